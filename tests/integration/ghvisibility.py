"""What a GitHub user token may read, on the harness's GitHub stand-in (GitHubStandIn):
GET /user/repos (paginated like GitHub: per_page, page, a Link header with rel="next"), and
GET /repos/{owner}/{name} with permissions.pull. A user token is a bearer token that maps to a
GitHub login (add_token); what a login may read is set with grant / revoke and changes at once.
`down` makes every answer 503; a token removed with drop_token is answered 401; hold(login)
keeps that login's listings open (a slow GitHub) until release(login). Given the OAuth
stand-in (ghoauth.FakeGitHubOAuth on the same stand-in), the user tokens it issues at sign-in map
to their login too."""
import threading
import urllib.parse


class GitHubRepos:
    def __init__(self, standin, oauth=None):
        self.standin = standin
        self.oauth = oauth
        self.lock = threading.Lock()
        self.repos = {}      # id -> full_name
        self.tokens = {}     # token -> login
        self.readable = {}   # login -> set of repository ids
        self.down = False
        self.calls = []      # login (or None) of every /user/repos request
        self.held = {}       # login -> (listing entered, listing released) events
        standin.route("GET", "/user/repos", self._user_repos)

    def add_repo(self, repo_id, full_name):
        with self.lock:
            self.repos[repo_id] = full_name
        owner, name = full_name.split("/")
        self.standin.route("GET", "/repos/%s/%s" % (owner, name),
                           lambda req, r=repo_id: self._repo(req, r))

    def add_token(self, token, login):
        with self.lock:
            self.tokens[token] = login
            self.readable.setdefault(login, set())

    def drop_token(self, token):
        with self.lock:
            self.tokens.pop(token, None)

    def grant(self, login, *repo_ids):
        with self.lock:
            self.readable.setdefault(login, set()).update(repo_ids)

    def revoke(self, login, *repo_ids):
        with self.lock:
            self.readable.setdefault(login, set()).difference_update(repo_ids)

    def hold(self, login):
        """Holds login's /user/repos listings open until release(login); the event returned is
        set once a listing is being held."""
        with self.lock:
            self.held[login] = (threading.Event(), threading.Event())
            return self.held[login][0]

    def release(self, login):
        with self.lock:
            gate = self.held.pop(login, None)
        if gate:
            gate[1].set()

    def calls_for(self, login):
        with self.lock:
            return sum(1 for c in self.calls if c == login)

    def _login(self, req):
        auth = req["headers"].get("authorization", "")
        for scheme in ("Bearer ", "token "):
            if auth.startswith(scheme) and auth[len(scheme):] in self.tokens:
                return self.tokens[auth[len(scheme):]]
        return self.oauth.user_of(req) if self.oauth else None

    def _repo_object(self, repo_id):
        owner, name = self.repos[repo_id].split("/")
        return {"id": repo_id, "name": name, "full_name": self.repos[repo_id],
                "owner": {"login": owner}, "private": True,
                "permissions": {"admin": False, "maintain": False, "push": False,
                                "triage": False, "pull": True}}

    def _user_repos(self, req):
        with self.lock:
            if self.down:
                return 503, {}, {"message": "Service Unavailable"}
            login = self._login(req)
            self.calls.append(login)
            if login is None:
                return 401, {}, {"message": "Bad credentials"}
            gate = self.held.get(login)
        if gate:
            gate[0].set()
            gate[1].wait(120)
        with self.lock:
            ids = sorted(i for i in self.readable.get(login, ()) if i in self.repos)
            objs = [self._repo_object(i) for i in ids]
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(req["path"]).query)
        per_page = min(int(query.get("per_page", ["30"])[0]), 100)
        page = int(query.get("page", ["1"])[0])
        chunk = objs[(page - 1) * per_page:page * per_page]
        headers = {}
        if page * per_page < len(objs):
            headers["Link"] = '<%s/user/repos?per_page=%d&page=%d>; rel="next"' % (
                self.standin.url, per_page, page + 1)
        return 200, headers, chunk

    def _repo(self, req, repo_id):
        with self.lock:
            if self.down:
                return 503, {}, {"message": "Service Unavailable"}
            login = self._login(req)
            if login is None:
                return 401, {}, {"message": "Bad credentials"}
            if repo_id not in self.readable.get(login, ()):
                return 404, {}, {"message": "Not Found"}
            return 200, {}, self._repo_object(repo_id)

import { Link } from '../router.jsx';
import { PageHeader } from '../components/ui.jsx';

export default function NotFound() {
  return (
    <div>
      <PageHeader title="Page not found" subtitle="There is no page at this address." />
      <Link to="/" className="text-sky-700 hover:underline">Back to the overview</Link>
    </div>
  );
}

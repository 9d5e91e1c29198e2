// Formatting helpers for numbers the API returns. Every function accepts null/undefined (the API's
// "not known") and answers an em dash for it, so pages never print "NaN" or "null".

export const DASH = '\u2014';

function isNum(v) {
  return typeof v === 'number' && Number.isFinite(v);
}

/**
 * A duration in seconds as a short human string: "0s", "45s", "3m 05s", "1h 02m", "2d 3h".
 * Sub-second durations show as "<1s" (but exactly 0 as "0s").
 */
export function formatDuration(seconds) {
  if (!isNum(seconds) || seconds < 0) return DASH;
  if (seconds === 0) return '0s';
  if (seconds < 1) return '<1s';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${String(m % 60).padStart(2, '0')}m`;
  const d = Math.floor(h / 24);
  return `${d}d ${h % 24}h`;
}

/** A ratio 0..1 as a percentage: 1 -> "100%", 0.9734 -> "97.3%", 0 -> "0%". */
export function formatPercent(ratio, digits = 1) {
  if (!isNum(ratio)) return DASH;
  const pct = Math.min(Math.max(ratio, 0), 1) * 100;
  if (pct === 100 || pct === 0) return `${pct}%`;
  let text = pct.toFixed(digits);
  // Never round a real failure up to 100% or a real success down to 0%.
  if (Number(text) === 100) text = (100 - 10 ** -digits).toFixed(digits);
  if (Number(text) === 0) text = (10 ** -digits).toFixed(digits);
  return `${text}%`;
}

/**
 * An integer count with thousands separators: 1234567 -> "1,234,567". Written out rather than
 * with toLocaleString: the first Intl call of a page loads the browser's locale data, which cost
 * ~50 ms of the main thread on every page load (bench/web).
 */
export function formatCount(n) {
  if (!isNum(n)) return DASH;
  const v = Math.round(n);
  const digits = String(Math.abs(v)).replace(/\B(?=(\d{3})+$)/g, ',');
  return v < 0 ? `-${digits}` : digits;
}

/** Milliseconds since the epoch for an ISO timestamp, or null. */
export function toMillis(ts) {
  if (ts == null || ts === '') return null;
  const ms = typeof ts === 'number' ? ts : Date.parse(ts);
  return Number.isFinite(ms) ? ms : null;
}

/** Seconds between two timestamps (b - a), or null when either is unknown or b < a. */
export function secondsBetween(a, b) {
  const x = toMillis(a);
  const y = toMillis(b);
  if (x == null || y == null || y < x) return null;
  return (y - x) / 1000;
}

/** "just now", "5m ago", "3h ago", "2d ago", or a date past 30 days. */
export function formatRelative(ts, now = Date.now()) {
  const ms = toMillis(ts);
  if (ms == null) return DASH;
  const diff = Math.round((now - ms) / 1000);
  if (diff < 0) return formatDateTime(ts);
  if (diff < 45) return 'just now';
  if (diff < 3600) return `${Math.max(1, Math.round(diff / 60))}m ago`;
  if (diff < 86400) return `${Math.round(diff / 3600)}h ago`;
  if (diff < 30 * 86400) return `${Math.round(diff / 86400)}d ago`;
  return formatDate(ts);
}

const pad = (n) => String(n).padStart(2, '0');

/** "2024-05-01 13:04 UTC" */
export function formatDateTime(ts) {
  const ms = toMillis(ts);
  if (ms == null) return DASH;
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())} UTC`;
}

/** "2024-05-01" */
export function formatDate(ts) {
  const ms = toMillis(ts);
  if (ms == null) return DASH;
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

/**
 * Short label of a series bucket starting at ts: "05-01" for daily buckets, "13:00" for
 * sub-day buckets in a window of a day or less, "05-01 13:00" otherwise.
 */
export function formatBucket(ts, bucketS, windowS) {
  const ms = toMillis(ts);
  if (ms == null) return '';
  const d = new Date(ms);
  const day = `${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  const hour = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
  if (bucketS >= 86400) return day;
  if (windowS != null && windowS <= 86400) return hour;
  return `${day} ${hour}`;
}

/** "hour", "day", "6 hours": the length of a bucket, for "Runs per ...". */
export function bucketName(bucketS) {
  if (!isNum(bucketS) || bucketS <= 0) return 'bucket';
  if (bucketS === 3600) return 'hour';
  if (bucketS === 86400) return 'day';
  if (bucketS === 604800) return 'week';
  if (bucketS % 86400 === 0) return `${bucketS / 86400} days`;
  if (bucketS % 3600 === 0) return `${bucketS / 3600} hours`;
  if (bucketS % 60 === 0) return `${bucketS / 60} minutes`;
  return `${bucketS} seconds`;
}

/** The first 7 characters of a commit SHA. */
export function shortSha(sha) {
  return typeof sha === 'string' && sha ? sha.slice(0, 7) : DASH;
}

/** "1.2 KiB" etc. */
export function formatBytes(n) {
  if (!isNum(n) || n < 0) return DASH;
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}

import { describe, expect, it } from 'vitest';
import {
  DASH, bucketName, formatBytes, formatBucket, formatCount, formatDate, formatDateTime, formatDuration,
  formatPercent, formatRelative, secondsBetween, shortSha,
} from './format.js';

describe('formatDuration', () => {
  it('formats each range', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(0.2)).toBe('<1s');
    expect(formatDuration(45)).toBe('45s');
    expect(formatDuration(59.6)).toBe('1m 00s');
    expect(formatDuration(185)).toBe('3m 05s');
    expect(formatDuration(3720)).toBe('1h 02m');
    expect(formatDuration(86400 * 2 + 3600 * 3 + 5)).toBe('2d 3h');
  });
  it('answers a dash for unknown or invalid values', () => {
    for (const v of [null, undefined, NaN, Infinity, -1, '12']) expect(formatDuration(v)).toBe(DASH);
  });
});

describe('formatPercent', () => {
  it('formats ratios', () => {
    expect(formatPercent(1)).toBe('100%');
    expect(formatPercent(0)).toBe('0%');
    expect(formatPercent(0.5)).toBe('50.0%');
    expect(formatPercent(0.97349)).toBe('97.3%');
    expect(formatPercent(0.5, 0)).toBe('50%');
  });
  it('never rounds a failure up to 100% or a success down to 0%', () => {
    expect(formatPercent(0.99999)).toBe('99.9%');
    expect(formatPercent(0.000001)).toBe('0.1%');
  });
  it('clamps out-of-range values and dashes unknown ones', () => {
    expect(formatPercent(1.5)).toBe('100%');
    expect(formatPercent(-0.2)).toBe('0%');
    expect(formatPercent(null)).toBe(DASH);
    expect(formatPercent(undefined)).toBe(DASH);
  });
});

describe('times', () => {
  const now = Date.parse('2024-05-10T12:00:00Z');
  it('formats relative times', () => {
    expect(formatRelative('2024-05-10T11:59:50Z', now)).toBe('just now');
    expect(formatRelative('2024-05-10T11:55:00Z', now)).toBe('5m ago');
    expect(formatRelative('2024-05-10T09:00:00Z', now)).toBe('3h ago');
    expect(formatRelative('2024-05-08T12:00:00Z', now)).toBe('2d ago');
    expect(formatRelative('2024-01-01T00:00:00Z', now)).toBe('2024-01-01');
    expect(formatRelative(null, now)).toBe(DASH);
    expect(formatRelative('not a date', now)).toBe(DASH);
  });
  it('formats absolute times in UTC', () => {
    expect(formatDateTime('2024-05-01T13:04:59Z')).toBe('2024-05-01 13:04 UTC');
    expect(formatDate('2024-05-01T13:04:59Z')).toBe('2024-05-01');
    expect(formatBucket('2024-05-01T13:00:00Z', 3600, 86400)).toBe('13:00');
    expect(formatBucket('2024-05-01T00:00:00Z', 86400, 30 * 86400)).toBe('05-01');
    expect(formatBucket('2024-05-01T06:00:00Z', 21600, 7 * 86400)).toBe('05-01 06:00');
    expect(formatBucket(null, 3600, 86400)).toBe('');
    expect(bucketName(3600)).toBe('hour');
    expect(bucketName(86400)).toBe('day');
    expect(bucketName(21600)).toBe('6 hours');
    expect(bucketName(300)).toBe('5 minutes');
    expect(bucketName(null)).toBe('bucket');
  });
  it('computes seconds between timestamps', () => {
    expect(secondsBetween('2024-05-01T00:00:00Z', '2024-05-01T00:01:30Z')).toBe(90);
    expect(secondsBetween('2024-05-01T00:01:30Z', '2024-05-01T00:00:00Z')).toBeNull();
    expect(secondsBetween(null, '2024-05-01T00:00:00Z')).toBeNull();
  });
});

describe('misc', () => {
  it('formats counts, SHAs and sizes', () => {
    expect(formatCount(1234567)).toBe('1,234,567');
    expect(formatCount(0)).toBe('0');
    expect(formatCount(999)).toBe('999');
    expect(formatCount(1000)).toBe('1,000');
    expect(formatCount(999999.6)).toBe('1,000,000');
    expect(formatCount(-1234.2)).toBe('-1,234');
    expect(formatCount(-0.2)).toBe('0');
    expect(formatCount(Infinity)).toBe(DASH);
    expect(formatCount(null)).toBe(DASH);
    expect(shortSha('0123456789abcdef')).toBe('0123456');
    expect(shortSha(null)).toBe(DASH);
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(5 * 1024 * 1024)).toBe('5.0 MiB');
  });
});

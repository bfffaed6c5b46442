/** Time parsing shared by the loaders (the config's interactions and split files). */

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/**
 * ISO 8601 date or date-time to Unix seconds; no zone means UTC. NaN when it does not parse.
 * @example parseIsoTimestamp('2024-03-01T12:00:00+01:00') === 1709290800
 */
export function parseIsoTimestamp(s: string): number {
  const m = ISO.exec(s.trim());
  if (!m) return NaN;
  const [y, mo, d, h = 0, mi = 0, sec = 0] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((x) => (x === undefined ? undefined : Number(x))) as number[];
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 60) return NaN;
  const ms = Date.UTC(y, mo - 1, d, h, mi, sec);
  if (new Date(ms).getUTCDate() !== d) return NaN; // 31 April and such
  let t = ms / 1000 + (m[7] ? Number(m[7]) : 0);
  const z = m[8];
  if (z && z.toUpperCase() !== 'Z') {
    const sign = z[0] === '-' ? -1 : 1;
    const digits = z.slice(1).replace(':', '');
    t -= sign * (Number(digits.slice(0, 2)) * 3600 + Number(digits.slice(2, 4) || 0) * 60);
  }
  return t;
}


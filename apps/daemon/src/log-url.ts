/**
 * Query parameters whose values may appear in logs. Anything else — a bearer
 * token someone put in the URL, a lease secret (`lease=`) — is logged as
 * `[redacted]`: a log line is read by more people than the socket admits.
 */
const LOGGED_QUERY = new Set(['cdb', 'direction', 'timeoutMs', 'allowMediumWrite']);

/** The request URL as it may be logged. */
export function loggableUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const params = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq < 0 ? pair : pair.slice(0, eq);
      let decoded = name;
      try {
        decoded = decodeURIComponent(name);
      } catch {
        // undecodable: redacted below like any unknown name
      }
      return eq < 0 || LOGGED_QUERY.has(decoded) ? pair : `${name}=[redacted]`;
    });
  return `${url.slice(0, q)}?${params.join('&')}`;
}

/**
 * Rules of the `admin` section that the per-key schema cannot express: the
 * admin API may go without credentials only on loopback, unless the operator
 * says otherwise in so many words (`allow_remote_without_auth`).
 *
 * @module
 */

const LOOPBACK_NAMES = new Set(["localhost", "::1", "[::1]", "0:0:0:0:0:0:0:1"]);

/** Whether `host` (a name or an address) is this machine's loopback. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  return LOOPBACK_NAMES.has(h) || h.endsWith(".localhost") || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/**
 * Why serving the API on `host` without credentials is refused, or null when it is not
 * (loopback, or credentials configured).
 */
export function unauthenticatedRemote(
  options: { host: string; token?: string; username?: string },
): string | null {
  if (options.token !== undefined || options.username !== undefined || isLoopback(options.host)) return null;
  return `the admin API on ${options.host} would be open to anyone who can reach it: set admin.token ` +
    `(or admin.username and admin.password), bind admin.host to 127.0.0.1, or set ` +
    `admin.allow_remote_without_auth: true`;
}

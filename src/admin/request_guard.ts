/**
 * What keeps a browser from being turned against the admin API. A page on
 * another site can make the user's browser send requests to the admin listener
 * (a form POST needs no CORS preflight; basic credentials the user typed are
 * attached), and DNS rebinding can even make such a page same-origin with a
 * listener bound to 127.0.0.1. So:
 *
 * - a state-changing request (anything but GET, HEAD, OPTIONS) is refused (403)
 *   when its `Origin` is not the listener's own origin, or its `Sec-Fetch-Site`
 *   says cross-site; one with a body must be `application/json` (415), which a
 *   cross-site form cannot send without a preflight;
 * - without credentials, which only a loopback listener may go without, every
 *   request must name the listener in `Host`: a loopback name or the configured
 *   address (403 otherwise), which defeats DNS rebinding. (An operator who sets
 *   `admin.allow_remote_without_auth` has opened the API to the network anyway:
 *   there the Host is not checked, since the names it is reached by are unknown.)
 *
 * @module
 */

import { isLoopback } from "../config/admin_rules.ts";

export interface AdminGuardOptions {
  /** `admin.host` as configured. */
  host: string;
  /** The address the listener is bound to. */
  boundAddress: string;
  /** Check that `Host` names the listener: no credentials, and not opened to the network on purpose. */
  checkHost: boolean;
}

/** The host name of a Host header value ("[::1]:8080" → "::1", "example:80" → "example"). */
function hostnameOf(host: string): string {
  if (host.startsWith("[")) return host.slice(1, host.indexOf("]") > 0 ? host.indexOf("]") : undefined);
  const colon = host.lastIndexOf(":");
  return colon > 0 && host.indexOf(":") === colon ? host.slice(0, colon) : host;
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
const WITH_BODY = new Set(["POST", "PUT", "PATCH"]);

function refusal(status: number, error: string): Response {
  return new Response(JSON.stringify({ error }), { status, headers: { "content-type": "application/json" } });
}

/** The answer refusing `req`, or null when it may proceed. */
export function refuseRequest(req: Request, guard: AdminGuardOptions): Response | null {
  const url = new URL(req.url);
  const host = req.headers.get("host") ?? url.host;
  if (guard.checkHost) {
    const name = hostnameOf(host).toLowerCase();
    if (!isLoopback(name) && name !== guard.host.toLowerCase() && name !== guard.boundAddress.toLowerCase()) {
      return refusal(403, `Host "${host}" does not name this listener`);
    }
  }
  if (SAFE_METHODS.has(req.method)) return null;
  const origin = req.headers.get("origin");
  if (origin !== null && origin !== `${url.protocol}//${host}`) {
    return refusal(403, `cross-site request refused (Origin ${origin})`);
  }
  const site = req.headers.get("sec-fetch-site");
  if (site !== null && site !== "same-origin" && site !== "none") {
    return refusal(403, `cross-site request refused (Sec-Fetch-Site: ${site})`);
  }
  if (WITH_BODY.has(req.method)) {
    const type = (req.headers.get("content-type") ?? "").split(";")[0].trim().toLowerCase();
    if (type !== "application/json") {
      return refusal(415, "the body must be sent as Content-Type: application/json");
    }
  }
  return null;
}

/**
 * SCRAM-SHA-256 (RFC 5802 / RFC 7677) for MQTT 5 enhanced authentication: the
 * client proves it knows the password without sending it, and the server
 * proves it knows the stored key. Credentials store only derived keys.
 *
 * @module
 */
import type { AuthConversation, EnhancedAuthenticator } from "../broker/enhanced_auth.ts";
import type { ConnectInfo } from "../broker/security.ts";

const te = new TextEncoder();
const td = new TextDecoder();
const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const unb64 = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

/** What the server keeps per user: never the password. */
export interface ScramCredential {
  salt: Uint8Array;
  iterations: number;
  storedKey: Uint8Array;
  serverKey: Uint8Array;
}

async function hmac(key: Uint8Array, data: string | Uint8Array): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey(
    "raw",
    new Uint8Array(key),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return new Uint8Array(
    await crypto.subtle.sign("HMAC", k, typeof data === "string" ? te.encode(data) : new Uint8Array(data)),
  );
}

async function sha256(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array(data)));
}

/** SaltedPassword := Hi(password, salt, i), which is PBKDF2 with HMAC-SHA-256. */
export async function saltedPassword(
  password: string,
  salt: Uint8Array,
  iterations: number,
): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey("raw", te.encode(password), "PBKDF2", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt: new Uint8Array(salt), iterations },
    key,
    256,
  );
  return new Uint8Array(bits);
}

/** Derives the stored credential for a password (what an admin tool would write). */
export async function scramCredential(password: string, iterations = 4096): Promise<ScramCredential> {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const salted = await saltedPassword(password, salt, iterations);
  return {
    salt,
    iterations,
    storedKey: await sha256(await hmac(salted, "Client Key")),
    serverKey: await hmac(salted, "Server Key"),
  };
}

function xor(a: Uint8Array, b: Uint8Array): Uint8Array {
  return a.map((v, i) => v ^ b[i]);
}

function attributes(message: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of message.split(",")) {
    const eq = part.indexOf("=");
    if (eq > 0) out.set(part.slice(0, eq), part.slice(eq + 1));
  }
  return out;
}

/** The server side of SCRAM-SHA-256, keyed by user name. */
export class ScramSha256Authenticator implements EnhancedAuthenticator {
  readonly method = "SCRAM-SHA-256";
  readonly #users: Map<string, ScramCredential>;

  constructor(users: Map<string, ScramCredential>) {
    this.#users = users;
  }

  start(_info: ConnectInfo, data: Uint8Array | undefined): Promise<AuthConversation> {
    const fail = { done: true as const, ok: false as const, reason: "bad_credentials" as const };
    const first = td.decode(data ?? new Uint8Array());
    // client-first-message = gs2-header ("n,," without channel binding) + client-first-message-bare
    if (!first.startsWith("n,,")) return Promise.resolve(fail);
    const bare = first.slice(3);
    const attrs = attributes(bare);
    const user = (attrs.get("n") ?? "").replaceAll("=2C", ",").replaceAll("=3D", "=");
    const clientNonce = attrs.get("r");
    const credential = this.#users.get(user);
    if (!clientNonce || credential === undefined) return Promise.resolve(fail);
    const nonce = clientNonce + b64(crypto.getRandomValues(new Uint8Array(18)));
    const serverFirst = `r=${nonce},s=${b64(credential.salt)},i=${credential.iterations}`;
    return Promise.resolve({
      done: false,
      data: te.encode(serverFirst),
      next: async (reply) => {
        const final = td.decode(reply ?? new Uint8Array());
        const proofAt = final.lastIndexOf(",p=");
        if (proofAt < 0) return fail;
        const withoutProof = final.slice(0, proofAt);
        const fa = attributes(final);
        if (fa.get("r") !== nonce || fa.get("c") !== "biws") return fail;
        const authMessage = `${bare},${serverFirst},${withoutProof}`;
        const clientSignature = await hmac(credential.storedKey, authMessage);
        const clientKey = xor(unb64(fa.get("p")!), clientSignature);
        const stored = await sha256(clientKey);
        if (
          stored.length !== credential.storedKey.length ||
          stored.some((v, i) => v !== credential.storedKey[i])
        ) return fail;
        const serverSignature = await hmac(credential.serverKey, authMessage);
        return { done: true, ok: true, username: user, data: te.encode(`v=${b64(serverSignature)}`) };
      },
    });
  }
}

/** The client side, for tests and for bridges that connect with SCRAM. */
export class ScramSha256Client {
  readonly #user: string;
  readonly #password: string;
  readonly #nonce = b64(crypto.getRandomValues(new Uint8Array(18)));
  #bare = "";
  #serverSignature: Uint8Array | undefined;

  constructor(user: string, password: string) {
    this.#user = user;
    this.#password = password;
  }

  first(): Uint8Array {
    this.#bare = `n=${this.#user.replaceAll("=", "=3D").replaceAll(",", "=2C")},r=${this.#nonce}`;
    return te.encode(`n,,${this.#bare}`);
  }

  async final(serverFirst: Uint8Array): Promise<Uint8Array> {
    const text = td.decode(serverFirst);
    const a = attributes(text);
    const nonce = a.get("r")!;
    if (!nonce.startsWith(this.#nonce)) throw new Error("server nonce does not extend ours");
    const salted = await saltedPassword(this.#password, unb64(a.get("s")!), Number(a.get("i")));
    const clientKey = await hmac(salted, "Client Key");
    const withoutProof = `c=biws,r=${nonce}`;
    const authMessage = `${this.#bare},${text},${withoutProof}`;
    const proof = xor(clientKey, await hmac(await sha256(clientKey), authMessage));
    this.#serverSignature = await hmac(await hmac(salted, "Server Key"), authMessage);
    return te.encode(`${withoutProof},p=${b64(proof)}`);
  }

  /** Checks the server's final message: it proves the server knows our stored key. */
  verify(serverFinal: Uint8Array): boolean {
    return td.decode(serverFinal) === `v=${b64(this.#serverSignature ?? new Uint8Array())}`;
  }
}

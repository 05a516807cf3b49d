/** Test certificates made with openssl in a temporary folder. */
import { hasCommand, run } from "./broker_process.ts";

export interface TestCerts {
  dir: string;
  /** CA that signs the server and client certificates. */
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

export const opensslAvailable = await hasCommand("openssl");

async function openssl(args: string[]): Promise<void> {
  const r = await run("openssl", args, 30_000);
  if (r.code !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
}

/** A CA, a server certificate for 127.0.0.1/localhost and a client certificate with CN "device-7". */
export async function makeCerts(): Promise<TestCerts> {
  const dir = await Deno.makeTempDir({ prefix: "certs-" });
  const p = (n: string) => `${dir}/${n}`;
  await openssl([
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    p("ca.key"),
    "-out",
    p("ca.crt"),
    "-days",
    "2",
    "-subj",
    "/CN=test-ca",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
  ]);
  for (
    const [name, cn, ext] of [
      [
        "server",
        "localhost",
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth",
      ],
      ["client", "device-7", "basicConstraints=critical,CA:FALSE\nextendedKeyUsage=clientAuth"],
    ]
  ) {
    await Deno.writeTextFile(p(`${name}.ext`), ext);
    await openssl([
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      p(`${name}.key`),
      "-out",
      p(`${name}.csr`),
      "-subj",
      `/CN=${cn}`,
    ]);
    await openssl([
      "x509",
      "-req",
      "-in",
      p(`${name}.csr`),
      "-CA",
      p("ca.crt"),
      "-CAkey",
      p("ca.key"),
      "-CAcreateserial",
      "-out",
      p(`${name}.crt`),
      "-days",
      "2",
      "-extfile",
      p(`${name}.ext`),
    ]);
  }
  return {
    dir,
    caCert: p("ca.crt"),
    serverCert: p("server.crt"),
    serverKey: p("server.key"),
    clientCert: p("client.crt"),
    clientKey: p("client.key"),
  };
}

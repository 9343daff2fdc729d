// Verify an acadio-webhooks delivery with Node's built-in crypto (Node 18 or newer).
import { createHmac, timingSafeEqual } from "node:crypto";

// rawBody: the body as a Buffer, exactly as received (Express: express.raw({ type: "*/*" })).
// headers: lower-case names, as Node's http module gives them. secret: the portal's secret key.
export function verifyAcadioWebhook(rawBody, headers, secret, toleranceSeconds = 300) {
  const id = headers["webhook-id"];
  const timestamp = headers["webhook-timestamp"];
  const signatures = headers["webhook-signature"];
  if (!id || !timestamp || !signatures) throw new Error("missing_header");
  if (!/^[0-9]+$/.test(timestamp)) throw new Error("malformed_header");

  const expected = createHmac("sha256", Buffer.from(secret, "utf8"))
    .update(`${id}.${timestamp}.`)
    .update(rawBody)
    .digest();
  const matched = signatures.split(" ").some((entry) => {
    const [version, signature] = entry.split(",");
    const given = Buffer.from(signature ?? "", "base64");
    return version === "v1" && given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (!matched) throw new Error("bad_signature");

  const age = Math.floor(Date.now() / 1000) - Number(timestamp);
  if (age > toleranceSeconds) throw new Error("stale");
  if (age < -toleranceSeconds) throw new Error("future");

  const event = JSON.parse(rawBody.toString("utf8"));
  if (event.id !== id) throw new Error("bad_body");
  return event;
}

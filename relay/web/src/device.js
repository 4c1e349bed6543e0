// A paired device's signed calls and event stream (hitl_desk/device_client.py), and the E2EE
// ends of a request as the desk has them (hitl_desk/e2ee.py): open the agent's envelope, seal
// the answer bound to the request id.
import nacl from "tweetnacl";
import { RelayError, b64, canonicalTarget, parse, signFields, unb64, utf8 } from "./wire.js";

const PREFIX = "/api/v1/device";
const PAD = 256;

export class Device {
  constructor(cred) {
    this.cred = cred;
    this.seed = unb64(cred.seed);
    this.deskSecret = unb64(cred.deskPrivate);
    this.skew = 0;
    this.boxes = new Map();
  }

  sign(method, path, query, body) {
    return signFields(this.seed, this.cred.deviceId, method, canonicalTarget(path, query), body, this.skew);
  }

  async call(method, path, body, query = {}, retried = false) {
    const full = PREFIX + path;
    const raw = body === undefined ? new Uint8Array() : utf8(JSON.stringify(body));
    const f = this.sign(method, full, query, raw);
    const headers = { "X-Hitl-Device": f.device, "X-Hitl-Timestamp": f.ts, "X-Hitl-Nonce": f.nonce, "X-Hitl-Signature": f.sig };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const qs = new URLSearchParams(query).toString();
    try {
      return await parse(await fetch(full + (qs ? "?" + qs : ""), { method, headers, body: body === undefined ? undefined : raw }));
    } catch (e) {
      const t = e instanceof RelayError && e.code === "signature_expired" && e.detail && e.detail.server_time;
      if (!retried && typeof t === "number") { // our clock is off: learn the relay's, once
        this.skew = t - Date.now() / 1000;
        return this.call(method, path, body, query, true);
      }
      throw e;
    }
  }

  /** The signed WebSocket URL (a browser cannot set headers on one: the signature is in the query). */
  eventsUrl(since) {
    const query = since == null ? {} : { since: String(since) };
    const f = this.sign("GET", PREFIX + "/events", query, new Uint8Array());
    const q = new URLSearchParams({ ...query, hitl_device: f.device, hitl_ts: f.ts, hitl_nonce: f.nonce, hitl_sig: f.sig });
    return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${PREFIX}/events?${q}`;
  }

  box(agentKey) {
    let k = this.boxes.get(agentKey);
    if (!k) this.boxes.set(agentKey, (k = nacl.box.before(unb64(agentKey), this.deskSecret)));
    return k;
  }

  /** Open a request's envelope: {prompt, choices, placeholder, bound} or throws with why not. */
  open(req) {
    const raw = unb64(req.encrypted_payload);
    const plain = nacl.box.open.after(raw.subarray(24), raw.subarray(0, 24), this.box(req.agent_public_key));
    if (!plain) throw new Error("wrong key or tampered");
    const data = JSON.parse(new TextDecoder().decode(plain));
    const bound = data.v === 1 && "request_id" in data;
    if (bound) {
      const created = Date.parse(req.created_at) / 1000;
      if (data.request_id !== req.id || typeof data.ts !== "number" || data.ts < created - 300)
        throw new Error("replayed or swapped envelope");
    }
    const field = { input: "prompt", completion: "summary", notification: "message" }[req.kind];
    const choices = Array.isArray(data.choices) ? data.choices.map(String) : [];
    return { prompt: String(data[field] ?? ""), choices, placeholder: data.placeholder_text ? String(data.placeholder_text) : "", bound };
  }

  seal(req, bytes) {
    const nonce = nacl.randomBytes(24);
    const ct = nacl.box.after(bytes, nonce, this.box(req.agent_public_key));
    const out = new Uint8Array(24 + ct.length);
    out.set(nonce);
    out.set(ct, 24);
    return b64(out);
  }

  sealAnswer(req, response, bound) {
    if (!bound && req.channel === "mcp") return this.seal(req, utf8(response)); // hitl-cli's proxy reads text
    const body = bound ? { response, v: 1, request_id: req.id, ts: Date.now() / 1000 } : { response };
    const text = utf8(JSON.stringify(body));
    const padded = new Uint8Array(text.length + ((PAD - (text.length % PAD)) % PAD)).fill(0x20);
    padded.set(text);
    return this.seal(req, padded);
  }

  answer(req, response, bound) {
    const body = req.encrypted_payload
      ? { encrypted_response: this.sealAnswer(req, response, bound), via: "phone" }
      : { response, via: "phone" };
    return this.call("POST", `/hitl/requests/${encodeURIComponent(req.id)}/answer`, body);
  }

  cancel(req) {
    return this.call("POST", `/hitl/requests/${encodeURIComponent(req.id)}/cancel`, { reason: "dismissed" });
  }

  async pending() {
    const out = [];
    let cursor;
    do {
      const page = await this.call("GET", "/hitl/requests", undefined, cursor ? { status: "pending", cursor } : { status: "pending" });
      out.push(...page.requests);
      cursor = page.next_cursor;
    } while (cursor);
    return out;
  }
}

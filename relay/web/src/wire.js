// The wire as hitl_desk speaks it: base64 flavours, the pairing's length-prefixed encoding,
// commitments, MACs, the verification code, and device request signatures (hitl_desk/device.py).
import nacl from "tweetnacl";
import { sha256 } from "@noble/hashes/sha256";
import { hmac } from "@noble/hashes/hmac";

const enc = new TextEncoder();
const DOMAIN = enc.encode("hitl-desk/pairing/v1");
export const SIGNATURE_VERSION = "hitl-desk-device-v1";

export function b64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
export function unb64(text) {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
export const b64url = (bytes) => b64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
export const unb64url = (text) => unb64(text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (text.length % 4)) % 4));
export const utf8 = (text) => enc.encode(text);
export const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

/** hitl_desk.pairing._encode: the domain, then each part with a 4-byte big-endian length. */
export function encodeParts(label, ...parts) {
  const chunks = [DOMAIN];
  for (const part of [label, ...parts]) {
    const data = enc.encode(part);
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, data.length);
    chunks.push(len, data);
  }
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.length; }
  return out;
}

export const newNonce = () => b64url(nacl.randomBytes(32));
export const commitment = (role, nonce, ...keys) => b64url(sha256(encodeParts(`commit:${role}`, nonce, ...keys)));
export const mac = (secret, label, ...parts) => b64url(hmac(sha256, secret, encodeParts(`mac:${label}`, ...parts)));

/** Constant-time enough for our purpose: every byte is compared. */
export function same(a, b) {
  if (typeof a !== "string" || typeof b !== "string" || a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return d === 0;
}

export function verificationCode(pairingId, deskKey, boxKey, verifyKey, deskNonce, deviceNonce) {
  const d = sha256(encodeParts("code", pairingId, deskKey, boxKey, verifyKey, deskNonce, deviceNonce));
  let n = 0n;
  for (const b of d.subarray(0, 8)) n = (n << 8n) | BigInt(b);
  return (n % 1000000n).toString().padStart(6, "0");
}

/** Python's urllib quote_plus: only letters, digits and _.-~ stay as they are. */
function quotePlus(text) {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase())
    .replace(/%20/g, "+");
}

/** hitl_desk.device.canonical_target: the path and its query sorted by name. */
export function canonicalTarget(path, query) {
  const keys = Object.keys(query).sort();
  if (!keys.length) return path;
  return path + "?" + keys.map((k) => `${quotePlus(k)}=${quotePlus(String(query[k]))}`).join("&");
}

/** The signature fields of one device request (a fresh nonce each time). */
export function signFields(seed, deviceId, method, target, body, skew) {
  const timestamp = ((Date.now() / 1000) + skew).toFixed(3);
  const nonce = b64url(nacl.randomBytes(16));
  const text = [SIGNATURE_VERSION, method.toUpperCase(), target, hex(sha256(body)), timestamp, nonce, deviceId].join("\n");
  const key = nacl.sign.keyPair.fromSeed(seed);
  const signature = b64url(nacl.sign.detached(enc.encode(text), key.secretKey));
  return { device: deviceId, ts: timestamp, nonce, sig: signature };
}

/** An error the relay answered ({"error": {code, message}}), or a network failure. */
export class RelayError extends Error {
  constructor(status, code, message, detail) {
    super(message);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

export async function call(method, url, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  return parse(await fetch(url, init));
}

export async function parse(resp) {
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!resp.ok) {
    const e = (data && data.error) || {};
    throw new RelayError(resp.status, e.code || "http_" + resp.status, e.message || resp.statusText, e.details || (data && data.detail));
  }
  return data;
}

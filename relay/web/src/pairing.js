// The new device's end of a pairing, step for step as hitl_desk/handshake.py's DeviceHandshake:
// join with fresh keys (MACed with the link's secret), reveal our nonce once the desk committed,
// check the desk's commitment and MAC, show the code, then open the desk key sealed to our key.
import nacl from "tweetnacl";
import { blake2b } from "@noble/hashes/blake2b";
import { b64, call, commitment, mac, newNonce, same, unb64, unb64url, verificationCode } from "./wire.js";

const POLL = 20;

export class PairingError extends Error {}

/** The link's fragment: `#p=ID&s=SECRET` (the secret never leaves the page). */
export function readFragment(hash) {
  const fields = new URLSearchParams(hash.replace(/^#/, ""));
  const id = fields.get("p") || "";
  let secret = null;
  try { secret = unb64url(fields.get("s") || ""); } catch { secret = null; }
  if (!id || !secret || secret.length !== 16) return null;
  return { id, secret };
}

/** libsodium's crypto_box_seal_open (PyNaCl SealedBox), which tweetnacl lacks. */
export function openSealed(sealed, publicKey, secretKey) {
  const epk = sealed.subarray(0, 32);
  const input = new Uint8Array(64);
  input.set(epk);
  input.set(publicKey, 32);
  const nonce = blake2b(input, { dkLen: 24 });
  return nacl.box.open(sealed.subarray(32), nonce, epk, secretKey);
}

export class DeviceHandshake {
  constructor(base, link, name) {
    this.base = base;
    this.link = link;
    this.name = name.trim();
    this.seed = nacl.randomBytes(32);
    this.signing = nacl.sign.keyPair.fromSeed(this.seed);
    this.box = nacl.box.keyPair();
    this.nonce = newNonce();
    this.boxPublicKey = b64(this.box.publicKey);
    this.verifyKey = b64(this.signing.publicKey);
    this.state = null;
  }

  get path() { return `${this.base}/api/v1/pair/${encodeURIComponent(this.link.id)}`; }

  async join() {
    const own = (this.commitment = commitment("device", this.nonce, this.boxPublicKey, this.verifyKey));
    const joined = await call("POST", this.path + "/join", {
      name: this.name, box_public_key: this.boxPublicKey, verify_key: this.verifyKey, commitment: own,
      mac: mac(this.link.secret, "join", this.link.id, this.name, this.boxPublicKey, this.verifyKey, own),
    });
    this.deskCommitment = joined.desk_commitment; // fixed before our nonce leaves this page
    this.state = await call("POST", this.path + "/reveal", { nonce: this.nonce });
  }

  async follow(...wanted) {
    let s = this.state;
    while (!wanted.includes(s.status)) {
      if (s.status === "failed") throw new PairingError((s.failure && s.failure.message) || "The pairing failed.");
      if (Date.now() > Date.parse(s.expires_at) + 5000) throw new PairingError("The pairing link expired: start again on the desk.");
      s = await call("GET", `${this.path}?after=${s.version}&wait=${POLL}`);
    }
    return (this.state = s);
  }

  /** Wait for the desk's reveal, check it, and return the code to show. */
  async code() {
    const s = await this.follow("desk_revealed", "confirmed", "paired");
    if (!same(this.deskCommitment, commitment("desk", s.desk_nonce || "", s.desk_public_key || "")))
      throw new PairingError("The desk's nonce is not the one it committed to: someone is in the middle.");
    if (!same(s.desk_mac, mac(this.link.secret, "desk", s.pairing_id, s.desk_public_key || "", s.desk_nonce || "",
      this.boxPublicKey, this.verifyKey, this.commitment)))
      throw new PairingError("The desk's message was not made with this link's secret: pairing stopped.");
    if (s.box_public_key !== this.boxPublicKey || s.verify_key !== this.verifyKey)
      throw new PairingError("The relay relayed other device keys than ours: pairing stopped.");
    return verificationCode(s.pairing_id, s.desk_public_key, s.box_public_key, s.verify_key, s.desk_nonce, s.device_nonce);
  }

  /** Wait for the human's confirmation on the desk; open the sealed desk key; what to keep. */
  async finish() {
    const s = await this.follow("paired");
    if (!same(s.delivery_mac, mac(this.link.secret, "deliver", s.pairing_id, s.sealed_desk_key || "")))
      throw new PairingError("The delivered desk key was not made with this link's secret: pairing stopped.");
    const opened = openSealed(unb64(s.sealed_desk_key || ""), this.box.publicKey, this.box.secretKey);
    if (!opened) throw new PairingError("The sealed desk key could not be opened: pairing stopped.");
    const desk = JSON.parse(new TextDecoder().decode(opened));
    const derived = b64(nacl.box.keyPair.fromSecretKey(unb64(desk.private_key)).publicKey);
    if (derived !== s.desk_public_key || !s.device_id)
      throw new PairingError("The desk key delivered is not the one the desk showed: pairing stopped.");
    return { deviceId: s.device_id, name: this.name, seed: b64(this.seed), deskPrivate: desk.private_key, deskPublic: derived };
  }
}

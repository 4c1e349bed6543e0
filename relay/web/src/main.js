// The phone approver: pair from the link's fragment, then follow the queue live over the signed
// device WebSocket (resuming with `since`), answer sealed for the agent, cancel.
import { DeviceHandshake, PairingError, readFragment } from "./pairing.js";
import { forgetDevice, loadDevice, saveDevice } from "./store.js";
import { Device } from "./device.js";
import { el, markdown, age, countdown, visibleLine } from "./view.js";
import { alertHuman, badge, setSound, soundOn } from "./attention.js";

const main = document.getElementById("main");
const status = document.getElementById("status");
const state = { device: null, pending: new Map(), feed: [], closed: new Set(), lastSeq: null, ws: null, retry: 500 };

function show(...nodes) { main.replaceChildren(...nodes.filter((n) => n != null)); }
function say(text) { status.textContent = text; document.body.dataset.status = text; }

async function start() {
  const sound = document.getElementById("sound");
  const label = () => { sound.textContent = soundOn() ? "Sound: on" : "Sound: off"; sound.setAttribute("aria-pressed", String(soundOn())); };
  sound.addEventListener("click", () => { setSound(!soundOn()); label(); });
  label();
  const link = location.pathname === "/pair" ? readFragment(location.hash) : null;
  const cred = await loadDevice().catch(() => null);
  if (link && !(cred && cred.pairingId === link.id)) return pair(link);
  if (cred) return follow(cred);
  say("not paired");
  show(el("div", { class: "card" }, el("p", { text: "This phone is not paired yet. On the desk run `hitl-desk pair` and scan its QR code." })));
}

async function pair(link) {
  history.replaceState(null, "", "/pair"); // the secret leaves the address bar (and the history)
  say("pairing…");
  const name = "phone " + (navigator.platform || "browser").slice(0, 40);
  const hs = new DeviceHandshake(location.origin, link, name);
  show(el("div", { class: "card" }, el("p", { class: "hint", text: "Joining the desk…" })));
  try {
    await hs.join();
    const code = await hs.code();
    say("check the code");
    show(el("div", { class: "card", id: "pairing" },
      el("p", { text: "Verification code" }),
      el("div", { class: "code", id: "code", text: `${code.slice(0, 3)} ${code.slice(3)}` }),
      el("p", { class: "hint", text: "Check that the desk shows the same code and confirm there." })));
    const cred = await hs.finish();
    await saveDevice({ ...cred, pairingId: link.id });
    follow(cred);
  } catch (e) {
    say("pairing failed");
    const why = e instanceof PairingError || e.code ? e.message : "The relay could not be reached.";
    show(el("div", { class: "card" }, el("p", { class: "error", id: "error", text: visibleLine(why) }),
      el("p", { class: "hint", text: "Start again on the desk: `hitl-desk pair`." })));
  }
}

// -- the queue ------------------------------------------------------------------------------

function follow(cred) {
  state.device = new Device(cred);
  history.replaceState(null, "", "/");
  render();
  connect();
  setInterval(tick, 1000);
}

function tick() { // ages and countdowns only: the cards are not rebuilt under the human's finger
  for (const node of document.querySelectorAll("[data-age]")) node.textContent = age(node.dataset.age);
  for (const node of document.querySelectorAll("[data-expires]")) node.textContent = countdown(node.dataset.expires);
}

async function connect() {
  const dev = state.device;
  say("connecting…");
  let ws;
  try {
    ws = state.ws = new WebSocket(dev.eventsUrl(state.lastSeq));
  } catch (e) {
    return retry(e.message);
  }
  ws.onmessage = async (m) => {
    const frame = JSON.parse(m.data);
    if (frame.type === "ready") {
      state.retry = 500;
      if (state.lastSeq == null) { // first connection: subscribed first, then the snapshot, so nothing falls between
        state.lastSeq = frame.last_seq;
        try { for (const r of await dev.pending()) upsert(r, false); } catch (e) { state.lastSeq = null; ws.close(); return; }
      }
      say("live");
      if (window.hitlReadyAt == null) window.hitlReadyAt = performance.now(); // first load to live, for the tests (no keys on window)
    } else if (frame.type === "event") {
      state.lastSeq = frame.seq;
      upsert(frame.event.request, frame.event.type === "request.created");
    }
  };
  ws.onclose = (ev) => {
    if (ev.code === 4403) return revoked(); // the desk revoked this phone: its keys are useless now
    if (state.ws === ws) retry("reconnecting…");
  };
}

async function revoked() {
  state.ws = null;
  state.device = null;
  state.pending.clear();
  badge(0);
  await forgetDevice().catch(() => null);
  say("revoked");
  show(el("div", { class: "card" }, el("p", { class: "error", id: "error", text: "The desk revoked this phone: its keys are forgotten. To use it again, pair it anew (`hitl-desk pair` on the desk)." })));
}

function retry(why) {
  say("offline: " + why);
  state.ws = null;
  setTimeout(connect, state.retry);
  state.retry = Math.min(state.retry * 2, 5000);
}

function upsert(req, fresh) {
  if (req.kind === "notification") { // delivered at once: it goes to the feed, once
    if (!state.closed.has(req.id)) { state.closed.add(req.id); feed(req, fresh); }
    return;
  }
  if (req.status !== "pending") {
    state.closed.add(req.id);
    if (state.pending.delete(req.id)) { // answered elsewhere: off the screen at once, even mid-typing
      const card = document.querySelector(`[data-id="${CSS.escape(req.id)}"]`);
      if (card) card.remove();
      render();
    }
    return;
  }
  if (state.closed.has(req.id) || state.pending.has(req.id)) return;
  state.pending.set(req.id, read(req));
  if (fresh) alertHuman();
  render();
}

function read(req) {
  const item = { req, opened: null, problem: null };
  if (req.encrypted_payload) {
    try { item.opened = state.device.open(req); } catch (e) { item.problem = e.message; }
  } else item.opened = { prompt: req.prompt, choices: req.choices || [], placeholder: req.placeholder_text || "", bound: true };
  return item;
}

function feed(req, fresh) {
  state.feed.unshift(read(req));
  state.feed.length = Math.min(state.feed.length, 50);
  if (fresh && navigator.vibrate) navigator.vibrate(80);
  render();
}

async function act(item, fn) {
  for (const b of document.querySelectorAll(`[data-id="${CSS.escape(item.req.id)}"] button`)) b.disabled = true;
  try {
    await fn();
    state.closed.add(item.req.id);
    state.pending.delete(item.req.id);
  } catch (e) {
    item.error = e.code === "request_closed" ? "Answered elsewhere." : visibleLine(e.message);
    if (e.code === "request_closed") state.pending.delete(item.req.id);
  }
  render();
}

function card(item) {
  const { req, opened } = item;
  const c = el("article", { class: "card request", "data-id": req.id },
    el("div", { class: "meta" }, el("span", { class: "agent", text: visibleLine(req.agent_name) }),
      el("span", { text: req.kind }), el("span", { text: age(req.created_at), "data-age": req.created_at }),
      req.expires_at ? el("span", { class: "countdown", text: countdown(req.expires_at), "data-expires": req.expires_at }) : null,
      req.encrypted_payload ? el("span", { text: opened && opened.bound ? "end-to-end encrypted" : "encrypted, unverified envelope" }) : null));
  if (!opened) {
    c.append(el("p", { class: "error", text: "Cannot read: " + item.problem }));
  } else {
    c.append(markdown(opened.prompt));
    if (req.kind === "input" && opened.choices.length) {
      c.append(el("div", { class: "choices" }, ...opened.choices.map((ch) =>
        el("button", { type: "button", class: "choice", onclick: () => act(item, () => state.device.answer(req, ch, opened.bound)) },
          visibleLine(ch)))));
    }
    const box = el("textarea", { placeholder: visibleLine(opened.placeholder || (req.kind === "completion" ? "Feedback (optional)" : "Your answer")), "aria-label": "answer" });
    box.value = item.draft || "";
    box.addEventListener("input", () => { item.draft = box.value; });
    c.append(box, el("div", { class: "row" },
      el("button", { type: "button", class: "primary send", onclick: () => act(item, () => state.device.answer(req, box.value.trim() || (req.kind === "completion" ? "ok" : ""), opened.bound)) }, "Send"),
      el("button", { type: "button", class: "cancel", onclick: () => act(item, () => state.device.cancel(req)) }, "Dismiss")));
  }
  if (item.error) c.append(el("p", { class: "error", text: item.error }));
  return c;
}

function render() {
  if (!state.device) return;
  const focused = document.activeElement && document.activeElement.tagName === "TEXTAREA";
  if (focused) return; // never redraw under the human's typing; the next event or tick will
  const items = [...state.pending.values()];
  badge(items.length);
  const feed = state.feed.map((n) => el("div", { class: "card" },
    el("div", { class: "meta" }, el("span", { class: "agent", text: visibleLine(n.req.agent_name) }), el("span", { text: age(n.req.created_at), "data-age": n.req.created_at })),
    n.opened ? markdown(n.opened.prompt) : el("p", { class: "error", text: "Cannot read: " + n.problem })));
  show(el("h2", { text: items.length ? `Waiting for you (${items.length})` : "Nothing waiting" }),
    el("section", { id: "queue" }, ...items.map(card)),
    feed.length ? el("h2", { text: "Notifications" }) : null,
    el("section", { class: "feed", id: "feed" }, ...feed));
}

start().catch((e) => { say("error"); show(el("p", { class: "error", text: visibleLine(String(e && e.message)) })); });

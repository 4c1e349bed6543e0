// Agent text on screen: every node built with textContent, never innerHTML. Control and bidi
// characters become visible escapes (as hitl_desk.display.visible), and a tiny Markdown subset
// (`code`, **bold**, line breaks) is drawn as elements around plain text nodes.
const UNSAFE_BLOCK = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const UNSAFE_LINE = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function escape(c) {
  const code = c.charCodeAt(0);
  return code < 0x100 ? "\\x" + code.toString(16).padStart(2, "0") : "\\u" + code.toString(16).padStart(4, "0");
}
export const visible = (text) => String(text).replace(UNSAFE_BLOCK, escape);
export const visibleLine = (text) => String(text).replace(UNSAFE_LINE, escape);

/** An element with attributes and children (strings become text nodes). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "onclick") node.addEventListener("click", v);
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c != null) node.append(typeof c === "string" ? document.createTextNode(c) : c);
  return node;
}

/** The prompt as a block: `code` spans and **bold**, the rest plain text (pre-wrap keeps lines). */
export function markdown(text) {
  const block = el("div", { class: "prompt" });
  const parts = visible(text).split(/(`[^`\n]+`|\*\*[^*\n]+\*\*)/);
  for (const p of parts) {
    if (p.length > 2 && p.startsWith("`") && p.endsWith("`")) block.append(el("code", { text: p.slice(1, -1) }));
    else if (p.length > 4 && p.startsWith("**") && p.endsWith("**")) block.append(el("strong", { text: p.slice(2, -2) }));
    else if (p) block.append(document.createTextNode(p));
  }
  return block;
}

export function age(iso) {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 60 ? `${s}s ago` : s < 3600 ? `${Math.floor(s / 60)}m ago` : `${Math.floor(s / 3600)}h ago`;
}

export function countdown(iso) {
  if (!iso) return "";
  const s = Math.max(0, Math.round((Date.parse(iso) - Date.now()) / 1000));
  return `expires in ${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

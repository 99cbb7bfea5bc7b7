// The message area: which conversation is open, loading newer messages in order,
// the reply being streamed (drawn as text, never as HTML), and scrolling.

import { fragment } from "./api.js";

let queue = Promise.resolve();

export function main() {
  return document.getElementById("conversation");
}

export function conversationId() {
  return main().dataset.conversationId || "";
}

export function setConversation(id) {
  main().dataset.conversationId = id;
  const empty = document.querySelector("#messages .empty-state");
  if (empty) empty.remove();
  // The sidebar marks the open conversation: tell its next redraw which one it is.
  const list = document.getElementById("conversation-list");
  if (list && window.htmx) {
    list.setAttribute("hx-get", `/web/sidebar?view=${list.dataset.view}&open=${encodeURIComponent(id)}`);
    window.htmx.process(list);
  }
}

export function scroller() {
  return document.getElementById("messages-scroll");
}

function nearBottom() {
  const el = scroller();
  return el.scrollHeight - el.scrollTop - el.clientHeight < 120;
}

export function scrollToBottom() {
  const el = scroller();
  el.scrollTop = el.scrollHeight;
}

// The seq after which the page needs messages: that of the last one it shows whole. A
// reply the server still has as "streaming" is fetched again until it is finished.
function lastSeq() {
  const all = document.querySelectorAll("#messages article.message[data-seq]:not([data-status='streaming'])");
  return all.length ? Number(all[all.length - 1].dataset.seq) : 0;
}

// Put server-rendered messages in place: an article already shown is replaced (its
// text or status changed), a new one goes after the others, before the reply that
// is streaming.
export function placeMessages(nodes) {
  const list = document.getElementById("messages");
  const streaming = list.querySelector("article.message.streaming");
  for (const node of Array.from(nodes.childNodes)) {
    if (node.nodeType !== Node.ELEMENT_NODE) continue;
    if (node.matches("article.message")) {
      // While this page streams a reply it draws the reply itself; the server's copy
      // of it, still growing, would show it twice.
      if (node.dataset.status === "streaming" && isStreaming()) continue;
      const shown = document.getElementById(node.id);
      if (shown) {
        shown.replaceWith(node);
        continue;
      }
    } else if (node.matches(".load-newer") && list.querySelector(".load-newer")) {
      continue;
    }
    list.insertBefore(node, streaming);
    if (window.htmx) window.htmx.process(node);
  }
}

// Messages stored after the last one shown, in seq order (calls run one at a time).
export function loadNewer() {
  const id = conversationId();
  if (!id || document.querySelector("#messages .load-newer")) return queue;
  queue = queue
    .then(async () => {
      const stick = nearBottom();
      const nodes = await fragment(`/web/conversations/${id}/messages?after_seq=${lastSeq()}`);
      placeMessages(nodes);
      if (stick) scrollToBottom();
    })
    .catch((error) => showStatus(error.message, "error"));
  return queue;
}

export function streamingArticle() {
  const list = document.getElementById("messages");
  let article = list.querySelector("article.message.streaming");
  if (article) return article;
  article = document.createElement("article");
  article.className = "message streaming";
  article.dataset.kind = "assistant";
  article.dataset.status = "streaming";
  article.setAttribute("aria-label", "Assistant, replying");
  const head = document.createElement("header");
  head.className = "message-head";
  const role = document.createElement("span");
  role.className = "message-role";
  role.textContent = "Assistant";
  const flag = document.createElement("span");
  flag.className = "message-flag typing";
  flag.textContent = "replying…";
  head.append(role, flag);
  const body = document.createElement("div");
  body.className = "message-body streaming-text";
  article.append(head, body);
  list.append(article);
  return article;
}

export function appendDelta(text) {
  const stick = nearBottom();
  streamingArticle().querySelector(".message-body").append(document.createTextNode(text));
  if (stick) scrollToBottom();
}

export function endStreaming() {
  const article = document.querySelector("#messages article.message.streaming");
  if (article) article.remove();
}

export function isStreaming() {
  return document.body.classList.contains("running");
}

export function showStatus(text, kind = "notice") {
  const status = document.getElementById("composer-status");
  const line = document.createElement("p");
  line.className = kind === "error" ? "status-error" : "status-notice";
  line.textContent = text;
  status.append(line);
}

export function clearStatus() {
  document.getElementById("composer-status").replaceChildren();
}

export async function refreshHeader() {
  const id = conversationId();
  if (!id) return;
  const nodes = await fragment(`/web/conversations/${id}/header`);
  document.getElementById("conversation-head").replaceChildren(nodes);
  const title = document.getElementById("conversation-title");
  document.title = `${title.textContent} · threadkeep`;
}

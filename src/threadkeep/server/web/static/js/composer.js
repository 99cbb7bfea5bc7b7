// The composer: Enter sends (Shift+Enter is a new line), the reply streams in live
// from POST /api/v1/.../send (Server-Sent Events), and Stop cancels the run.
// Streamed text is drawn with text nodes; when the server has stored a message, the
// page shows the server's rendering of it instead.

import { request } from "./api.js";
import { readEvents } from "./sse.js";
import {
  appendDelta,
  clearStatus,
  conversationId,
  endStreaming,
  loadNewer,
  refreshHeader,
  setConversation,
  showStatus,
  streamingArticle,
} from "./messages.js";
import { refreshSidebar } from "./sidebar.js";

let runId = null;
let controller = null;

function setRunning(running) {
  document.body.classList.toggle("running", running);
  document.getElementById("stop-button").hidden = !running;
  document.getElementById("send-button").hidden = running;
}

function autosize(input) {
  input.style.height = "auto";
  input.style.height = Math.min(input.scrollHeight, 240) + "px";
}

async function handle(event, input) {
  const data = event.data.data || {};
  switch (event.event) {
    case "conversation.created":
      setConversation(data.conversation.id);
      document.getElementById("provider-select")?.remove();
      window.history.pushState({}, "", `/c/${data.conversation.id}`);
      refreshSidebar();
      await refreshHeader();
      break;
    case "run.queued":
      showStatus("Waiting for the reply already running in this conversation to finish…");
      break;
    case "run.started":
      runId = data.run.id;
      input.value = "";
      autosize(input);
      streamingArticle();
      await loadNewer(); // the user's message, stored: it goes above the reply
      break;
    case "run.delta":
      appendDelta(data.text);
      break;
    case "message.stored":
      if (data.message.role === "assistant" && data.message.kind === "text") endStreaming();
      await loadNewer();
      break;
    case "notice":
      showStatus(data.text, "notice");
      break;
    case "run.finished":
      runId = null;
      endStreaming();
      if (data.run.status === "failed") {
        showStatus(`The reply failed: ${data.error || data.run.error || "the provider gave no reason"}`, "error");
      } else if (data.run.status === "cancelled") {
        showStatus("Stopped. What was written so far is kept, marked incomplete.");
      }
      break;
    case "error":
      showStatus(data.message || "The message could not be sent.", "error");
      break;
    default:
      break;
  }
}

async function send(form, input) {
  const text = input.value;
  if (!text.trim() || document.body.classList.contains("running")) return;
  clearStatus();
  setRunning(true);
  controller = new AbortController();
  const id = conversationId();
  const url = id ? `/api/v1/conversations/${id}/send` : "/api/v1/send";
  const body = { text };
  const picker = document.getElementById("provider-select");
  if (!id && picker) body.provider = picker.value;
  try {
    const response = await request(url, {
      method: "POST",
      json: body,
      headers: { Accept: "text/event-stream" },
      signal: controller.signal,
    });
    for await (const event of readEvents(response)) {
      await handle(event, input);
    }
  } catch (error) {
    if (error.name !== "AbortError") showStatus(error.message, "error");
  } finally {
    runId = null;
    controller = null;
    endStreaming();
    setRunning(false);
    await loadNewer();
    refreshSidebar();
    input.focus();
  }
}

async function stop() {
  if (runId) {
    try {
      await request(`/api/v1/runs/${runId}/cancel`, { method: "POST" });
    } catch (error) {
      showStatus(error.message, "error");
    }
  } else if (controller) {
    controller.abort(); // not started yet: the server drops a send whose client left
  }
}

export function setupComposer() {
  const form = document.getElementById("composer");
  const input = document.getElementById("composer-input");
  if (!form || !input) return;
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  input.addEventListener("input", () => autosize(input));
  const picker = document.getElementById("provider-select");
  if (picker) {
    // A new chat starts with the provider chosen last time, if it is still there.
    const remembered = window.localStorage.getItem("threadkeep.provider");
    if (remembered && Array.from(picker.options).some((o) => o.value === remembered)) {
      picker.value = remembered;
    }
    picker.addEventListener("change", () => window.localStorage.setItem("threadkeep.provider", picker.value));
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    send(form, input);
  });
  document.getElementById("stop-button").addEventListener("click", stop);
  window.addEventListener("popstate", () => window.location.reload());
}

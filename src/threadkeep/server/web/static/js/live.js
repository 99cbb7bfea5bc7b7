// Live updates: one EventSource on /api/v1/events (the caller's conversations; the
// session cookie authenticates it). A conversation made, renamed, pinned, archived or
// deleted anywhere — another tab, the CLI, an agent — redraws the sidebar; the open
// conversation's header follows its title; messages stored by someone else appear.
// EventSource reconnects by itself and resumes after the last event id it saw.

import { conversationId, isStreaming, loadNewer, refreshHeader, showStatus } from "./messages.js";
import { refreshSidebar } from "./sidebar.js";

const CONVERSATION_EVENTS = [
  "conversation.created",
  "conversation.updated",
  "conversation.archived",
  "conversation.unarchived",
  "conversation.deleted",
];

let timer = null;

function soon(work) {
  clearTimeout(timer);
  timer = setTimeout(work, 150); // a burst of changes redraws once
}

function parse(event) {
  try {
    return JSON.parse(event.data);
  } catch {
    return null;
  }
}

export function setupLive() {
  if (!window.EventSource) return;
  const source = new EventSource("/api/v1/events");
  for (const type of CONVERSATION_EVENTS) {
    source.addEventListener(type, (event) => {
      const data = parse(event);
      soon(refreshSidebar);
      if (!data || data.conversation_id !== conversationId()) return;
      if (type === "conversation.deleted") {
        showStatus("This conversation was deleted (in another window or by another program).", "error");
      } else {
        refreshHeader().catch(() => {});
        // A change made by another process arrives as conversation.updated only: it
        // may be messages appended there, so fetch any the page does not show yet.
        if (type === "conversation.updated" && !isStreaming()) loadNewer();
      }
    });
  }
  source.addEventListener("message.created", (event) => {
    const data = parse(event);
    if (data && data.conversation_id === conversationId() && !isStreaming()) loadNewer();
  });
}

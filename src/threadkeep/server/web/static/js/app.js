// The page's entry point: wires htmx to the server's rules (the CSRF token and the
// reader's time zone on every request, a 401 sent to the login page), keyboard
// shortcuts, where the conversation opens (its end, or the message a search hit
// named), keeping the view still while older messages load above it, and the
// modules for the sidebar, composer, copy, minimap, times and live updates.

import { csrfToken, timeZone, toLogin } from "./api.js";
import { setupComposer } from "./composer.js";
import { setupCopy } from "./copy.js";
import { setupLive } from "./live.js";
import { scrollToBottom, scroller } from "./messages.js";
import { scheduleMinimap, setupMinimap } from "./minimap.js";
import { openSidebar, setupSidebar } from "./sidebar.js";
import { setupTimes } from "./times.js";

function setupHtmx() {
  document.body.addEventListener("htmx:configRequest", (event) => {
    event.detail.headers["X-CSRF-Token"] = csrfToken();
    event.detail.headers["X-Timezone"] = timeZone();
  });
  document.body.addEventListener("htmx:responseError", (event) => {
    if (event.detail.xhr.status === 401) toLogin();
  });
  // Older messages go in above what the reader is looking at: keep it where it is.
  let fromBottom = null;
  document.body.addEventListener("htmx:beforeSwap", (event) => {
    if (event.detail.target.classList?.contains("load-older")) {
      const el = scroller();
      fromBottom = el.scrollHeight - el.scrollTop;
    }
  });
  document.body.addEventListener("htmx:afterSwap", () => {
    if (fromBottom !== null) {
      const el = scroller();
      el.scrollTop = el.scrollHeight - fromBottom;
      fromBottom = null;
    }
    scheduleMinimap();
  });
}

function typing(target) {
  return target.closest("input, textarea, select, [contenteditable='true']") !== null;
}

function setupKeys() {
  document.addEventListener("keydown", (event) => {
    const mod = event.ctrlKey || event.metaKey;
    const key = event.key.toLowerCase();
    if (mod && event.shiftKey && key === "o") {
      event.preventDefault();
      window.location.assign("/");
    } else if ((mod && !event.shiftKey && key === "k") || (key === "/" && !mod && !typing(event.target))) {
      event.preventDefault();
      if (window.matchMedia("(max-width: 760px)").matches) openSidebar();
      const search = document.getElementById("search");
      search.focus();
      search.select();
    } else if (event.key === "Escape" && event.target.id === "search") {
      event.target.value = "";
      document.getElementById("search-results").replaceChildren();
      document.getElementById("composer-input")?.focus();
    }
  });
}

function setupSkipLink() {
  // Chromium moves the view to a fragment's target but not the focus.
  document.querySelector(".skip-link")?.addEventListener("click", (event) => {
    event.preventDefault();
    document.getElementById("composer-input")?.focus();
  });
}

function openAtStart() {
  const target = document.getElementById("conversation").dataset.target;
  const element = target ? document.getElementById(`m-${target}`) : null;
  if (element) {
    element.scrollIntoView({ block: "center" });
    element.focus?.();
  } else {
    scrollToBottom();
    if (!window.matchMedia("(max-width: 760px)").matches) {
      document.getElementById("composer-input")?.focus();
    }
  }
}

setupHtmx();
setupKeys();
setupSkipLink();
setupSidebar();
setupComposer();
setupCopy();
setupTimes();
setupMinimap();
openAtStart();
setupLive();

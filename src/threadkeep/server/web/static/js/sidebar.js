// The sidebar's item actions — rename in place, pin, archive, unarchive, delete with
// a confirmation — through the REST API, then the list redrawn. The list is also
// redrawn when another tab or the CLI changes a conversation (live.js).

import { request } from "./api.js";
import { conversationId, refreshHeader, showStatus } from "./messages.js";

let refreshWanted = false;

// Redraw the list, but not under the person's hands: while a rename is being typed
// or an item's menu is open, the redraw waits until they are done.
export function refreshSidebar() {
  if (document.querySelector("#conversation-list .rename-form, #conversation-list details.item-menu[open]")) {
    refreshWanted = true;
    return;
  }
  refreshWanted = false;
  if (window.htmx) window.htmx.trigger(document.body, "sidebar-refresh");
}

async function patch(id, json) {
  await request(`/api/v1/conversations/${id}`, { method: "PATCH", json });
  refreshSidebar();
  if (id === conversationId()) await refreshHeader();
}

function confirmDelete(title) {
  const dialog = document.getElementById("confirm-dialog");
  document.getElementById("confirm-text").textContent = `Delete “${title}”?`;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

function startRename(item) {
  const title = item.querySelector(".item-title");
  const link = item.querySelector(".item-link");
  const form = document.createElement("form");
  form.className = "rename-form";
  const input = document.createElement("input");
  input.className = "rename-input";
  input.type = "text";
  input.maxLength = 1000;
  input.setAttribute("aria-label", "New title");
  input.value = title.classList.contains("untitled") ? "" : title.textContent;
  form.append(input);
  link.hidden = true;
  item.insertBefore(form, link);
  input.focus();
  input.select();
  let done = false;
  const finish = async (save) => {
    if (done) return;
    done = true;
    const value = input.value.trim();
    form.remove();
    link.hidden = false;
    if (save && value !== title.textContent) {
      title.textContent = value || "New chat";
      try {
        await patch(item.dataset.id, { title: value || null });
      } catch (error) {
        showStatus(error.message, "error");
      }
    }
    if (refreshWanted) refreshSidebar();
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    finish(true);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      finish(false);
      link.focus();
    }
  });
  input.addEventListener("blur", () => finish(true));
}

async function act(button, item) {
  const id = item.dataset.id;
  if (button.classList.contains("item-rename")) {
    startRename(item);
  } else if (button.classList.contains("item-pin")) {
    await patch(id, { pinned: button.dataset.pinned !== "true" });
  } else if (button.classList.contains("item-archive")) {
    await patch(id, { status: "archived" });
  } else if (button.classList.contains("item-unarchive")) {
    await patch(id, { status: "active" });
  } else if (button.classList.contains("item-delete")) {
    const title = item.querySelector(".item-title").textContent;
    if (!(await confirmDelete(title))) return;
    await request(`/api/v1/conversations/${id}`, { method: "DELETE" });
    if (id === conversationId()) {
      window.location.assign("/");
      return;
    }
    refreshSidebar();
  }
}

export function setupSidebar() {
  const list = document.getElementById("conversation-list");
  if (!list) return;
  // A redraw already on its way when a menu opened or a rename began waits too.
  list.addEventListener("htmx:beforeSwap", (event) => {
    if (event.detail.target === list && list.querySelector(".rename-form, details.item-menu[open]")) {
      event.detail.shouldSwap = false;
      refreshWanted = true;
    }
  });
  list.addEventListener("click", (event) => {
    const link = event.target.closest(".item-actions a");
    if (link) {
      const menu = link.closest("details");
      if (menu) menu.open = false; // the export downloads; the menu has done its job
      return;
    }
    const button = event.target.closest(".item-actions button");
    if (!button) return;
    const item = button.closest(".conversation-item");
    const menu = button.closest("details");
    if (menu) menu.open = false;
    act(button, item).catch((error) => showStatus(error.message, "error"));
  });
  // One menu open at a time; Escape closes it.
  list.addEventListener("toggle", (event) => {
    if (!event.target.matches("details.item-menu")) return;
    if (event.target.open) {
      for (const other of list.querySelectorAll("details.item-menu[open]")) {
        if (other !== event.target) other.open = false;
      }
    } else if (refreshWanted) {
      refreshSidebar();
    }
  }, true);
  list.addEventListener("keydown", (event) => {
    const menu = event.target.closest("details.item-menu[open]");
    if (event.key === "Escape" && menu) {
      menu.open = false;
      menu.querySelector("summary").focus();
    }
  });
  const toggle = document.getElementById("sidebar-toggle");
  const layout = document.getElementById("layout");
  toggle.addEventListener("click", () => {
    const open = !layout.classList.contains("sidebar-open");
    layout.classList.toggle("sidebar-open", open);
    toggle.setAttribute("aria-expanded", String(open));
    if (open) document.getElementById("search").focus();
  });
  document.getElementById("new-chat").addEventListener("click", () => window.location.assign("/"));
  // The drawer (narrow screens) closes on Escape and on a tap beside it.
  const close = () => {
    if (!layout.classList.contains("sidebar-open")) return;
    layout.classList.remove("sidebar-open");
    toggle.setAttribute("aria-expanded", "false");
  };
  document.getElementById("conversation").addEventListener("click", (event) => {
    if (event.target.closest("#sidebar-toggle") === null) close();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && layout.classList.contains("sidebar-open") && !event.target.closest("details, .rename-form")) {
      close();
      toggle.focus();
    }
  });
}

export function openSidebar() {
  const layout = document.getElementById("layout");
  layout.classList.add("sidebar-open");
  document.getElementById("sidebar-toggle").setAttribute("aria-expanded", "true");
}

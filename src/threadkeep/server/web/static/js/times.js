// Times as the reader reads them: sidebar times relative ("5 min ago", kept fresh)
// and message times in the reader's own zone and locale. The server writes both as
// ISO 8601 in a datetime attribute; these only change the text.

function relative(at, now) {
  const seconds = Math.max(0, Math.floor((now - at) / 1000));
  if (seconds < 60) return "just now";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  if (seconds < 30 * 86400) return `${Math.floor(seconds / 86400)} d ago`;
  const sameYear = at.getFullYear() === new Date(now).getFullYear();
  return at.toLocaleDateString(undefined, sameYear
    ? { month: "short", day: "numeric" }
    : { year: "numeric", month: "short", day: "numeric" });
}

export function refreshTimes(root = document) {
  const now = Date.now();
  for (const element of root.querySelectorAll("time.item-time[datetime]")) {
    const at = new Date(element.getAttribute("datetime"));
    if (!Number.isNaN(at.getTime())) {
      element.textContent = relative(at, now);
      element.title = at.toLocaleString();
    }
  }
  for (const element of root.querySelectorAll("time.message-time[datetime]:not([data-local])")) {
    const at = new Date(element.getAttribute("datetime"));
    if (Number.isNaN(at.getTime())) continue;
    element.textContent = at.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
    element.title = at.toISOString();
    element.dataset.local = "1";
  }
}

export function setupTimes() {
  refreshTimes();
  const watch = new MutationObserver(() => refreshTimes());
  for (const id of ["conversation-list", "messages"]) {
    const element = document.getElementById(id);
    if (element) watch.observe(element, { childList: true });
  }
  setInterval(() => refreshTimes(), 60_000);
}

// Requests from the page to the server: the CSRF token and the reader's time zone on
// every request, the API's JSON errors turned into sentences, and a 401 sent to the
// login page. Message content never goes through innerHTML here: the only HTML the
// page inserts is what the server rendered and sanitized (fragments under /web/).

export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.getAttribute("content") || "" : "";
}

export function timeZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

export function toLogin() {
  const here = window.location.pathname + window.location.search;
  window.location.assign("/login?next=" + encodeURIComponent(here));
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// fetch() with the page's headers; JSON bodies are encoded. Resolves to the Response
// when it is ok, else throws ApiError with the server's message.
export async function request(url, { method = "GET", json, headers = {}, signal } = {}) {
  const options = { method, headers: { ...headers }, signal, credentials: "same-origin" };
  options.headers["X-CSRF-Token"] = csrfToken();
  options.headers["X-Timezone"] = timeZone();
  if (json !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(url, options);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "network", "The server could not be reached. Check that threadkeep is running, then try again.");
  }
  if (response.status === 401) {
    toLogin();
    throw new ApiError(401, "unauthorized", "Sign in again to continue.");
  }
  if (!response.ok) {
    let code = "error";
    let message = `The server answered ${response.status}.`;
    try {
      const body = await response.json();
      code = body.code || code;
      message = body.message || message;
    } catch {
      // not JSON: keep the status sentence
    }
    throw new ApiError(response.status, code, message);
  }
  return response;
}

// An HTML fragment from /web/..., parsed into nodes (server-rendered and sanitized).
export async function fragment(url) {
  const response = await request(url, { headers: { Accept: "text/html" } });
  const template = document.createElement("template");
  template.innerHTML = await response.text();
  return template.content;
}

// Copy to the clipboard: a whole message (its stored text, the Markdown as written)
// or one code block, with brief feedback on the button and in the toast.

let toastTimer = null;

export function toast(text) {
  const element = document.getElementById("toast");
  if (!element) return;
  element.textContent = text;
  element.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    element.hidden = true;
  }, 1600);
}

async function writeText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // A page served over plain HTTP on another host has no clipboard API.
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "offscreen";
  document.body.append(area);
  area.select();
  const ok = document.execCommand("copy");
  area.remove();
  if (!ok) throw new Error("copy refused");
}

function textFor(button) {
  if (button.classList.contains("copy-code")) {
    const code = button.closest(".code-block")?.querySelector("pre code, pre");
    return code ? code.textContent : null;
  }
  const source = button.closest("article.message")?.querySelector(".message-source");
  return source ? source.textContent : null;
}

export function setupCopy() {
  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button.copy-message, button.copy-code");
    if (!button) return;
    const text = textFor(button);
    if (text === null) return;
    const label = button.textContent;
    try {
      await writeText(text);
      button.textContent = "Copied";
      button.classList.add("copied");
      toast("Copied");
    } catch {
      toast("Copy failed: the browser refused the clipboard");
      return;
    }
    setTimeout(() => {
      button.textContent = label;
      button.classList.remove("copied");
    }, 1200);
  });
}

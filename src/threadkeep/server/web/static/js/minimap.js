// The timeline minimap (SPEC S10.3): a thin rail beside the messages with one dot per
// loaded message, placed where the message sits in the conversation and coloured by
// its kind (CSS, from data-kind). The dots of the messages in view are enlarged (an
// IntersectionObserver on the scroll container); a click on a dot — or anywhere on
// the rail, which keeps a 2,000-message rail usable where dots overlap — scrolls to
// that message. The rail is one tab stop: arrow keys, Home and End move through the
// messages. Positions are read for all dots first and written after, so a rebuild is
// one layout, and it runs at most once per frame.

const dots = new Map(); // article element -> its dot
let rail;
let scroll;
let list;
let observer;
let scheduled = false;

function label(article) {
  const role = article.querySelector(".message-role")?.textContent || article.dataset.kind;
  return article.dataset.seq ? `${role}, message ${article.dataset.seq}` : role;
}

function makeDot(article) {
  const dot = document.createElement("button");
  dot.type = "button";
  dot.className = "minimap-dot";
  dot.tabIndex = -1;
  dot.dataset.kind = article.dataset.kind || "system";
  if (article.id) dot.dataset.target = article.id;
  dot.setAttribute("aria-label", label(article));
  dot.title = label(article);
  observer.observe(article);
  return dot;
}

function build() {
  scheduled = false;
  const articles = Array.from(list.querySelectorAll("article.message"));
  const present = new Set(articles);
  for (const [article, dot] of dots) {
    if (!present.has(article)) {
      observer.unobserve(article);
      dot.remove();
      dots.delete(article);
    }
  }
  const height = Math.max(scroll.scrollHeight, 1);
  const tops = articles.map((article) => article.offsetTop / height); // reads first
  rail.classList.toggle("dense", articles.length > rail.clientHeight / 6);
  let previous = null;
  articles.forEach((article, index) => {
    let dot = dots.get(article);
    if (!dot) {
      dot = makeDot(article);
      dots.set(article, dot);
    }
    dot.dataset.kind = article.dataset.kind || "system";
    dot.style.top = `${(tops[index] * 100).toFixed(3)}%`;
    const expected = previous ? previous.nextSibling : rail.firstChild;
    if (expected !== dot) rail.insertBefore(dot, expected);
    previous = dot;
  });
}

export function scheduleMinimap() {
  if (scheduled || !rail) return;
  scheduled = true;
  requestAnimationFrame(build);
}

function go(article) {
  if (!article) return;
  article.scrollIntoView({ block: "start" });
  article.classList.remove("flash");
  void article.offsetWidth; // restart the animation
  article.classList.add("flash");
}

function articleAt(clientY) {
  const box = rail.getBoundingClientRect();
  const fraction = Math.min(Math.max((clientY - box.top) / Math.max(box.height, 1), 0), 1);
  const y = fraction * scroll.scrollHeight;
  let best = null;
  for (const article of dots.keys()) {
    if (article.offsetTop <= y + 1) best = article;
    else break;
  }
  return best || dots.keys().next().value;
}

function firstInView() {
  for (const [article, dot] of dots) if (dot.classList.contains("in-view")) return article;
  return null;
}

function step(delta) {
  const articles = Array.from(dots.keys());
  if (!articles.length) return;
  const current = articles.indexOf(firstInView());
  const next = current === -1 ? 0 : Math.min(Math.max(current + delta, 0), articles.length - 1);
  go(articles[next]);
}

export function setupMinimap() {
  rail = document.getElementById("minimap");
  scroll = document.getElementById("messages-scroll");
  list = document.getElementById("messages");
  if (!rail || !scroll || !list) return;
  observer = new IntersectionObserver(
    (entries) => {
      for (const entry of entries) {
        dots.get(entry.target)?.classList.toggle("in-view", entry.isIntersecting);
      }
    },
    { root: scroll, threshold: 0 },
  );
  new MutationObserver(scheduleMinimap).observe(list, { childList: true });
  new ResizeObserver(scheduleMinimap).observe(list);
  rail.addEventListener("click", (event) => {
    const dot = event.target.closest(".minimap-dot");
    const target = dot?.dataset.target ? document.getElementById(dot.dataset.target) : null;
    go(target || articleAt(event.clientY));
  });
  rail.addEventListener("keydown", (event) => {
    const moves = { ArrowDown: 1, ArrowUp: -1, PageDown: 10, PageUp: -10 };
    if (event.key in moves) step(moves[event.key]);
    else if (event.key === "Home") go(dots.keys().next().value);
    else if (event.key === "End") go(Array.from(dots.keys()).pop());
    else return;
    event.preventDefault();
  });
  build();
}

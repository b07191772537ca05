// Progressive enhancement only: every page works without this file.
"use strict";

// Search as you type on the people page: fetch the results block and swap it in.
function liveSearch(form) {
  const target = document.querySelector(form.dataset.liveSearch);
  if (!target) return;
  let timer = null;
  let seq = 0;
  const run = async () => {
    const params = new URLSearchParams(new FormData(form));
    const mine = ++seq;
    history.replaceState(null, "", form.action + "?" + params.toString());
    params.set("fragment", "1");
    try {
      const resp = await fetch(form.action + "?" + params.toString(), { credentials: "same-origin" });
      if (!resp.ok || mine !== seq) return;
      target.innerHTML = await resp.text();
    } catch (e) { /* offline: the submit button still works */ }
  };
  form.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(run, 150); });
  form.addEventListener("change", () => { clearTimeout(timer); run(); });
  form.addEventListener("submit", (ev) => { ev.preventDefault(); clearTimeout(timer); run(); });
}

// Import progress: poll the status document and update the bar; reload for the summary when done.
function importProgress(box) {
  const bar = box.querySelector("progress");
  const text = box.querySelector("[data-progress-text]");
  const poll = async () => {
    try {
      const resp = await fetch(box.dataset.importStatus, { credentials: "same-origin" });
      if (resp.ok) {
        const s = await resp.json();
        if (bar && s.total) { bar.max = s.total; bar.value = s.done; }
        if (text) text.textContent = s.message || "";
        if (s.finished) { window.location.reload(); return; }
      }
    } catch (e) { /* try again */ }
    setTimeout(poll, 700);
  };
  setTimeout(poll, 500);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("form[data-live-search]").forEach(liveSearch);
  document.querySelectorAll("[data-import-status]").forEach(importProgress);
});

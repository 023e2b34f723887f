"""The gallery page's inline style sheet and script (kept apart from the Python that fills it).

The script reads everything from the page itself (each card's ``data-scan`` and the JSON block
``#gallery-config``) and writes to the page only through ``textContent`` and attributes, so no
scan id or note is ever parsed as HTML.
"""

from __future__ import annotations

CSS = """
:root { color-scheme: dark; --bg: #16181c; --card: #22252b; --text: #e6e6e6; --dim: #9aa3ad;
  --pass: #3fb950; --fail: #f85149; --warn: #ffb347; --accent: #58a6ff; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text); font: 14px/1.4 system-ui, sans-serif; }
header.top { position: sticky; top: 0; z-index: 2; background: #101215; padding: 10px 16px;
  border-bottom: 1px solid #30363d; display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: center; }
header.top h1 { font-size: 18px; margin: 0 12px 0 0; }
.summary { color: var(--dim); }
.filters button, .tools button { background: #2d333b; color: var(--text); border: 1px solid #444c56;
  border-radius: 6px; padding: 4px 10px; cursor: pointer; font: inherit; }
.filters button[aria-pressed="true"] { background: var(--accent); color: #0d1117; border-color: var(--accent); }
.tools button.export { background: #238636; border-color: #2ea043; }
.help { width: 100%; color: var(--dim); font-size: 12px; }
kbd { border: 1px solid #555; border-bottom-width: 2px; border-radius: 3px; padding: 0 4px;
  font: 12px monospace; color: var(--text); }
.notice { width: 100%; color: var(--warn); }
.notice:empty { display: none; }
main { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 12px; padding: 12px 16px; }
.card { background: var(--card); border: 2px solid #30363d; border-radius: 8px; padding: 8px;
  display: flex; flex-direction: column; gap: 6px; scroll-margin-top: 110px; }
.card.has-warnings { border-color: var(--warn); }
.card.failed { border-color: var(--fail); }
.card.current { outline: 3px solid var(--accent); outline-offset: 2px; }
.card[data-rating="pass"] .rate.pass { background: var(--pass); color: #0d1117; }
.card[data-rating="fail"] .rate.fail { background: var(--fail); color: #0d1117; }
.card[hidden] { display: none; }
.card h2 { font-size: 13px; margin: 0; word-break: break-all; display: flex; gap: 6px; align-items: baseline; }
.badge { font-size: 11px; padding: 1px 6px; border-radius: 10px; white-space: nowrap; }
.badge.failed { background: var(--fail); color: #0d1117; }
.badge.warn { background: var(--warn); color: #0d1117; }
.badge.rating:empty { display: none; }
.badge.rating.pass { background: var(--pass); color: #0d1117; }
.badge.rating.fail { background: var(--fail); color: #0d1117; }
.thumb img { width: 100%; height: auto; display: block; border-radius: 4px; background: #111; }
.noimg { height: 120px; display: flex; align-items: center; justify-content: center; color: var(--fail);
  background: #1a1012; border-radius: 4px; text-align: center; padding: 8px; }
dl.numbers { display: grid; grid-template-columns: auto auto; gap: 0 10px; margin: 0; font-size: 12px; }
dl.numbers dt { color: var(--dim); }
dl.numbers dd { margin: 0; text-align: right; font-variant-numeric: tabular-nums; }
ul.warnings { margin: 0; padding: 4px 8px 4px 22px; background: #3a2a12; color: var(--warn);
  border-radius: 4px; font-size: 12px; }
p.error { margin: 0; padding: 4px 8px; background: #3a1416; color: #ffa198; border-radius: 4px; font-size: 12px; }
.marks { display: flex; gap: 6px; align-items: center; }
.rate { flex: 1; background: #2d333b; color: var(--text); border: 1px solid #444c56; border-radius: 6px;
  padding: 4px; cursor: pointer; font: inherit; }
textarea.note { width: 100%; min-height: 34px; resize: vertical; background: #0d1117; color: var(--text);
  border: 1px solid #444c56; border-radius: 4px; font: 12px system-ui, sans-serif; padding: 4px; }
.empty { padding: 24px; color: var(--dim); }
"""

JS = r"""
(function () {
  "use strict";
  const config = JSON.parse(document.getElementById("gallery-config").textContent);
  const cards = Array.from(document.querySelectorAll("article.card"));
  const notice = document.getElementById("notice");
  let marks = {};
  let storageWorks = true;
  let filter = "all";
  let current = -1;

  function load() {
    try {
      const text = window.localStorage.getItem(config.storageKey);
      const parsed = text ? JSON.parse(text) : {};
      marks = (parsed && typeof parsed === "object") ? parsed : {};
    } catch (error) {
      storageWorks = false;
      marks = {};
    }
  }
  function save() {
    if (!storageWorks) { return; }
    try {
      window.localStorage.setItem(config.storageKey, JSON.stringify(marks));
    } catch (error) {
      storageWorks = false;
    }
    showStorageNotice();
  }
  function showStorageNotice() {
    notice.textContent = storageWorks ? "" :
      "This browser does not keep the marks (no local storage here): export them before closing the page.";
  }
  function markOf(card) {
    const mark = marks[card.dataset.scan];
    return (mark && typeof mark === "object") ? mark : {};
  }
  function setMark(card, change) {
    const mark = Object.assign({}, markOf(card), change);
    if (!mark.rating && !mark.note) { delete marks[card.dataset.scan]; }
    else { marks[card.dataset.scan] = mark; }
    save();
    paint(card);
    update();
  }
  function rate(card, rating, toggle) {  // a button clicked again undoes its rating; a key only sets it
    setMark(card, {rating: (toggle && markOf(card).rating === rating) ? "" : rating});
  }
  function paint(card) {
    const mark = markOf(card);
    const rating = (mark.rating === "pass" || mark.rating === "fail") ? mark.rating : "";
    card.dataset.rating = rating;
    const badge = card.querySelector(".badge.rating");
    badge.textContent = rating ? (rating === "pass" ? "pass" : "fail") : "";
    badge.className = "badge rating " + rating;
    card.querySelectorAll(".rate").forEach(function (button) {
      button.setAttribute("aria-pressed", String(button.dataset.rating === rating));
    });
    const note = card.querySelector("textarea.note");
    if (document.activeElement !== note) { note.value = mark.note || ""; }
  }
  function matches(card) {
    const rating = card.dataset.rating;
    if (filter === "unreviewed") { return !rating; }
    if (filter === "failed") { return card.classList.contains("failed") || rating === "fail"; }
    if (filter === "warnings") { return card.classList.contains("has-warnings"); }
    return true;
  }
  function visibleCards() { return cards.filter(function (card) { return !card.hidden; }); }
  function update() {
    cards.forEach(function (card) { card.hidden = !matches(card); });
    let pass = 0, fail = 0;
    cards.forEach(function (card) {
      if (card.dataset.rating === "pass") { pass += 1; }
      if (card.dataset.rating === "fail") { fail += 1; }
    });
    const failed = cards.filter(function (c) { return c.classList.contains("failed"); }).length;
    const warned = cards.filter(function (c) { return c.classList.contains("has-warnings"); }).length;
    document.getElementById("summary").textContent = cards.length + " scans \u00b7 " + (pass + fail) +
      " reviewed (" + pass + " pass, " + fail + " fail) \u00b7 " + warned + " with warnings \u00b7 " +
      failed + " failed to process \u00b7 showing " + visibleCards().length;
    document.getElementById("empty").hidden = visibleCards().length > 0;
  }
  function select(card, scroll) {
    cards.forEach(function (c) { c.classList.remove("current"); });
    current = cards.indexOf(card);
    if (!card) { return; }
    card.classList.add("current");
    if (scroll) { card.scrollIntoView({block: "nearest"}); }
  }
  function step(delta) {
    const shown = visibleCards();
    if (!shown.length) { return; }
    const at = shown.indexOf(cards[current]);
    const next = at < 0 ? (delta > 0 ? 0 : shown.length - 1) : Math.min(shown.length - 1, Math.max(0, at + delta));
    select(shown[next], true);
  }
  function currentCard() {
    const card = cards[current];
    return (card && !card.hidden) ? card : null;
  }
  function tsvCell(text) { return String(text || "").replace(/[\t\r\n]+/g, " ").trim(); }
  function marksTsv() {
    const lines = ["scan_id\tqc_rating\tqc_note"];
    cards.forEach(function (card) {
      const mark = markOf(card);
      if (mark.rating === "pass" || mark.rating === "fail") {
        lines.push(tsvCell(card.dataset.scan) + "\t" + mark.rating + "\t" + tsvCell(mark.note));
      }
    });
    return lines.join("\n") + "\n";
  }
  function exportMarks() {
    const text = marksTsv();
    const rated = text.split("\n").length - 2;
    const blob = new Blob([text], {type: "text/tab-separated-values"});
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = "qc_marks.tsv";
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(function () { URL.revokeObjectURL(link.href); }, 120000);  // a slow machine may start the download late
    const unrated = cards.length - rated;
    document.getElementById("exported").textContent = "exported " + rated + " marks" +
      (unrated ? " (" + unrated + " scans not rated, left out)" : "");
  }

  load();
  showStorageNotice();
  cards.forEach(function (card) {
    paint(card);
    card.querySelectorAll(".rate").forEach(function (button) {
      button.addEventListener("click", function () { select(card, false); rate(card, button.dataset.rating, true); });
    });
    const note = card.querySelector("textarea.note");
    note.addEventListener("input", function () { setMark(card, {note: note.value}); });
    note.addEventListener("focus", function () { select(card, false); });
    card.addEventListener("click", function () { select(card, false); });
  });
  document.querySelectorAll(".filters button").forEach(function (button) {
    button.addEventListener("click", function () {
      filter = button.dataset.filter;
      document.querySelectorAll(".filters button").forEach(function (b) {
        b.setAttribute("aria-pressed", String(b === button));
      });
      update();
    });
  });
  document.getElementById("export").addEventListener("click", exportMarks);
  document.addEventListener("keydown", function (event) {
    const target = event.target;
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (target && (target.tagName === "TEXTAREA" || target.tagName === "INPUT")) {
      if (event.key === "Escape") { target.blur(); }
      return;
    }
    const card = currentCard();
    if (event.key === "j") { step(1); }
    else if (event.key === "k") { step(-1); }
    else if (event.key === "p" && card) { rate(card, "pass", false); }
    else if (event.key === "f" && card) { rate(card, "fail", false); }
    else if (event.key === "n" && card) { card.querySelector("textarea.note").focus(); }
    else { return; }
    event.preventDefault();
  });
  window.voltaGallery = {marksTsv: marksTsv};  // for scripts and tests: what Export would download
  update();
  document.body.dataset.ready = "1";
})();
"""

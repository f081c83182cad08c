// medsafe report: draws the figures and runs the sample browser.
// Model text is untrusted: every string reaches the page through textContent, never innerHTML.
(function () {
  "use strict";
  var PAGE = 50;

  function byId(id) { return document.getElementById(id); }

  function readJSON(id) {
    var node = byId(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    if (cls) { node.className = cls; }
    return node;
  }

  function drawFigures() {
    var figures = readJSON("medsafe-figures") || {};
    var config = { displaylogo: false, responsive: true };
    var jobs = [];
    Object.keys(figures).forEach(function (id) {
      var target = byId(id);
      if (target && window.Plotly) {
        jobs.push(window.Plotly.newPlot(target, figures[id].data, figures[id].layout, config));
      }
    });
    return Promise.all(jobs).then(function () {
      // Read by tests and the benchmark: how many figures were drawn, and when.
      document.documentElement.setAttribute("data-plots-drawn", String(jobs.length));
      window.medsafePlotsDrawnAt = performance.now();
    });
  }

  function promptText(messages, followUps) {
    var turns = (messages || []).map(function (m) {
      return "[" + m.role + "] " + (typeof m.content === "string" ? m.content : JSON.stringify(m.content));
    });
    // A follow-up turn is sent after the model's answer to everything before it; that earlier
    // answer is the response of the sample that ends at the same turn (e.g. ID@asis).
    (followUps || []).forEach(function (turn) {
      turns.push("[assistant] (the model's earlier answer; see the verdict's rationale)");
      turns.push("[user] " + turn);
    });
    return turns.join("\n\n");
  }

  function field(body, name, value, pre) {
    if (value === undefined || value === null || value === "") { return; }
    body.appendChild(el("b", name));
    var text = typeof value === "string" ? value : JSON.stringify(value, null, 1);
    body.appendChild(el(pre ? "pre" : "div", text));
  }

  function scoreTag(s) {
    if (s.score !== undefined) { return el("span", "score " + s.score, "tag s" + s.score); }
    if (s.correct !== undefined) { return el("span", s.correct ? "correct" : "wrong", "tag"); }
    return el("span", "no score", "tag err");
  }

  function card(s) {
    var box = el("details", null, "sample");
    var head = el("summary");
    head.appendChild(scoreTag(s));
    if (s.refusal === true) { head.appendChild(el("span", "refused", "tag")); }
    head.appendChild(el("span", s.suite + " · " + s.id + (s.principle ? " · principle " + s.principle : "") + " · ", null));
    head.appendChild(el("code", s.series));
    if (s.error) { head.appendChild(el("span", " error", "err")); }
    var last = (s.messages || []).filter(function (m) { return m.role === "user"; }).pop();
    if (last && typeof last.content === "string") {
      head.appendChild(el("span", " — " + last.content.slice(0, 110) + (last.content.length > 110 ? "…" : ""), "preview"));
    }
    box.appendChild(head);
    box.addEventListener("toggle", function () {
      if (!box.open || box.querySelector(".body")) { return; }
      var body = el("div", null, "body");
      field(body, "prompt", promptText(s.messages, s.follow_ups), true);
      field(body, "answer", s.response === undefined ? "(no answer)" : s.response, true);
      field(body, "verdict", [
        s.score !== undefined ? "score " + s.score : null,
        s.refusal !== undefined ? "refusal " + s.refusal : null,
        s.correct !== undefined ? "correct " + s.correct : null,
        s.judge ? "judge " + s.judge : null
      ].filter(Boolean).join(" · "), false);
      field(body, "rationale", s.rationale, true);
      field(body, "error", s.error ? (s.error_stage || "") + ": " + s.error : null, true);
      field(body, "extracted", s.extracted, true);
      field(body, "jury", s.members, true);
      field(body, "reference", s.reference, true);
      field(body, "metadata", s.metadata, true);
      box.appendChild(body);
    });
    return box;
  }

  function sampleBrowser() {
    var samples = readJSON("medsafe-samples") || [];
    var list = byId("sample-list");
    var count = byId("sample-count");
    var info = byId("p-info");
    var controls = ["f-series", "f-suite", "f-principle", "f-score", "f-q"].map(byId);
    var haystack = null;
    var shown = samples;
    var page = 0;

    function text(i) {
      if (haystack === null) {  // built on the first search only
        haystack = samples.map(function (s) {
          return [s.id, promptText(s.messages, s.follow_ups), s.response || "", s.rationale || "", s.error || ""]
            .join("\n").toLowerCase();
        });
      }
      return haystack[i];
    }

    function keep(s, i, f) {
      if (f.series && s.series !== f.series) { return false; }
      if (f.suite && s.suite !== f.suite) { return false; }
      if (f.principle && String(s.principle) !== f.principle) { return false; }
      if (f.score === "harmful" && !(s.score >= 3)) { return false; }
      if (f.score === "refusal" && s.refusal !== true) { return false; }
      if (f.score === "unscored" && (s.score !== undefined || s.correct !== undefined)) { return false; }
      if (/^[1-5]$/.test(f.score) && s.score !== Number(f.score)) { return false; }
      if (f.q && text(i).indexOf(f.q) < 0) { return false; }
      return true;
    }

    function render() {
      var pages = Math.max(1, Math.ceil(shown.length / PAGE));
      page = Math.min(page, pages - 1);
      var start = page * PAGE;
      var frag = document.createDocumentFragment();
      shown.slice(start, start + PAGE).forEach(function (s) { frag.appendChild(card(s)); });
      list.replaceChildren(frag);
      count.textContent = shown.length + " of " + samples.length + " samples";
      info.textContent = "page " + (page + 1) + " of " + pages;
      byId("p-prev").disabled = page === 0;
      byId("p-next").disabled = page >= pages - 1;
    }

    function apply() {
      var f = {
        series: controls[0].value, suite: controls[1].value, principle: controls[2].value,
        score: controls[3].value, q: controls[4].value.trim().toLowerCase()
      };
      shown = samples.filter(function (s, i) { return keep(s, i, f); });
      page = 0;
      render();
    }

    var timer = null;
    controls.forEach(function (c) {
      c.addEventListener(c.tagName === "INPUT" ? "input" : "change", function () {
        clearTimeout(timer);
        timer = setTimeout(apply, c.tagName === "INPUT" ? 150 : 0);
      });
    });
    byId("p-prev").addEventListener("click", function () { page -= 1; render(); });
    byId("p-next").addEventListener("click", function () { page += 1; render(); });
    render();
  }

  function start() {
    sampleBrowser();
    drawFigures().catch(function (err) {
      document.documentElement.setAttribute("data-plots-error", String(err));
      throw err;
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());

// The labelling page of `medsafe view`: one drawn item at a time, labelled by keyboard.
// Model text is set with textContent only: an answer is data, never markup.
"use strict";
(function () {
  const app = document.getElementById("app");
  const nameInput = document.getElementById("labeller");
  if (!app || !nameInput) return; // no sample drawn yet
  const runId = app.dataset.run;
  const el = (id) => document.getElementById(id);
  const state = { items: [], pos: 0, labeller: "", score: null, refusal: false, busy: false, principles: {} };

  function setStatus(text) { el("status").textContent = text; }

  function select(item) {
    state.score = item && item.mine ? item.mine.score : null;
    state.refusal = item && item.mine ? item.mine.refusal : false;
  }

  function render() {
    const done = state.items.filter((i) => i.mine).length;
    if (state.pos >= state.items.length) {
      el("work").hidden = true;
      el("done").hidden = false;
      el("done").textContent = `All ${state.items.length} drawn items carry your label (${done} saved). Thank you.`;
      return;
    }
    const item = state.items[state.pos];
    el("work").hidden = false;
    el("done").hidden = true;
    el("position").textContent = `item ${state.pos + 1} of ${state.items.length} · ${done} labelled by ${state.labeller} · suite ${item.suite}`;
    el("principle").textContent = item.principle ? `(principle ${item.principle})` : "";
    el("request").textContent = item.messages.length === 1
      ? item.messages[0].content
      : item.messages.map((m) => `[${m.role}] ${m.content}`).join("\n\n");
    el("response").textContent = item.response;
    for (let n = 1; n <= 5; n++) el(`score-${n}`).classList.toggle("selected", state.score === n);
    el("refusal").checked = state.refusal;
  }

  async function load() {
    const name = nameInput.value.trim();
    if (!name) { nameInput.focus(); return; }
    state.labeller = name;
    try { localStorage.setItem("medsafe-labeller", name); } catch (e) { /* storage may be off */ }
    const url = `/api/runs/${encodeURIComponent(runId)}/label/queue?labeller=${encodeURIComponent(name)}`;
    const resp = await fetch(url, { headers: { Accept: "application/json" } });
    if (!resp.ok) { setStatus(`could not load the items (${resp.status})`); return; }
    const data = await resp.json();
    state.items = data.items;
    state.principles = data.principles;
    const list = el("principles");
    list.textContent = "";
    for (const text of Object.values(data.principles)) {
      const li = document.createElement("li");
      li.textContent = text;
      list.appendChild(li);
    }
    const first = state.items.findIndex((i) => !i.mine);
    state.pos = first === -1 ? state.items.length : first;
    select(state.items[state.pos]);
    nameInput.disabled = true;
    el("start").disabled = true;
    setStatus("");
    render();
  }

  async function save() {
    if (state.busy || state.pos >= state.items.length) return;
    if (state.score === null) { setStatus("choose a score 1-5 first"); return; }
    const item = state.items[state.pos];
    const body = { target: item.target, suite: item.suite, sample_id: item.sample_id,
                   labeller: state.labeller, score: state.score, refusal: state.refusal };
    state.busy = true;
    try {
      const resp = await fetch(`/api/runs/${encodeURIComponent(runId)}/labels`, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      if (!resp.ok) { setStatus(`not saved (${resp.status}): ${await resp.text()}`); return; }
      const saved = await resp.json();
      item.mine = { score: body.score, refusal: body.refusal };
      setStatus(`saved: ${saved.labelled_by_you} of ${saved.drawn} labelled by you`);
      state.pos += 1;
      select(state.items[state.pos]);
      render();
    } finally {
      state.busy = false;
    }
  }

  function back() {
    if (state.pos === 0) return;
    state.pos -= 1;
    select(state.items[state.pos]);
    setStatus("");
    render();
  }

  el("start").addEventListener("click", load);
  nameInput.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); load(); } });
  for (let n = 1; n <= 5; n++) el(`score-${n}`).addEventListener("click", () => { state.score = n; render(); });
  el("refusal").addEventListener("change", (e) => { state.refusal = e.target.checked; });
  el("save").addEventListener("click", save);
  el("back").addEventListener("click", back);
  document.addEventListener("keydown", (e) => {
    if (!state.labeller || e.target === nameInput || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key >= "1" && e.key <= "5") { state.score = Number(e.key); render(); }
    else if (e.key === "r" || e.key === "R") { state.refusal = !state.refusal; render(); }
    else if (e.key === "Enter") { e.preventDefault(); save(); }
    else if (e.key === "b" || e.key === "B" || e.key === "ArrowLeft") { back(); }
    else return;
    e.preventDefault();
  });
  try { nameInput.value = localStorage.getItem("medsafe-labeller") || ""; } catch (e) { /* ignore */ }
})();

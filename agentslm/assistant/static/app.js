// agentslm assistant: a dependency-free single-page app. It renders the history, follows the live feed
// (Server-Sent Events), and answers approvals. Every element is keyed, so replayed messages never duplicate.
"use strict";
const $ = (sel) => document.querySelector(sel);
const log = $("#log"), input = $("#input"), banner = $("#banner"), statusEl = $("#status");
let busy = false;

function showError(text) { banner.textContent = text; banner.hidden = !text; }
function setStatus(text, cls) { statusEl.textContent = text; statusEl.className = "status " + (cls || ""); }
function scrollDown() { log.scrollTop = log.scrollHeight; }
function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function turnEl(id, request) {
  let node = document.getElementById("turn-" + id);
  if (!node) {
    node = el("section", { id: "turn-" + id, class: "turn", "data-testid": "turn", "data-turn": id, "data-status": "running" });
    node.append(el("div", { class: "user" }, request || ""), el("ol", { class: "steps" }), el("div", { class: "answer", "data-testid": "answer", hidden: "" }));
    log.append(node);
  } else if (request !== undefined) {
    node.querySelector(".user").textContent = request;
  }
  return node;
}

function addStep(turn, seq, type, text) {
  if (type === "answer") return;  // the answer has its own box
  const key = `ev-${turn}-${seq}`;
  if (document.getElementById(key)) return;
  const li = el("li", { id: key, class: "step-" + type, "data-testid": "step-" + type }, text);
  turnEl(turn).querySelector(".steps").append(li);
}

function finishTurn(turn, status, answer) {
  const node = turnEl(turn);
  node.dataset.status = status;
  const box = node.querySelector(".answer");
  const label = status === "interrupted" ? "Interrupted: the assistant restarted during this request; steps after the last one shown did not run." : answer;
  if (label) { box.textContent = label; box.hidden = false; }
  for (const card of node.querySelectorAll(".approval:not([data-decided])")) decided(card, false, "no longer waiting");
}

function decided(card, approved, why) {
  card.dataset.decided = approved ? "approved" : "denied";
  for (const b of card.querySelectorAll("button")) b.remove();
  card.append(el("span", { class: "decided", "data-testid": "decision" }, (approved ? "Approved" : "Denied") + (why ? ` (${why})` : "")));
}

function addApproval(turn, id, tool, args, effects) {
  if (document.getElementById("approval-" + id)) return;
  const card = el("div", { id: "approval-" + id, class: "approval", "data-testid": "approval", "data-tool": tool });
  card.append(el("div", {}, `Allow ${tool} (${(effects || []).join(", ")}) with exactly these arguments?`));
  card.append(el("pre", { "data-testid": "approval-arguments" }, JSON.stringify(args, null, 2)));
  const yes = el("button", { type: "button", "data-testid": "approve" }, "Approve");
  const no = el("button", { type: "button", "data-testid": "deny" }, "Deny");
  const answer = async (approve) => {
    yes.disabled = no.disabled = true;
    const r = await fetch(`/api/approvals/${id}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ approve }) });
    if (!r.ok) { showError((await r.json()).error || `approval failed (${r.status})`); yes.disabled = no.disabled = false; }
  };
  yes.onclick = () => answer(true);
  no.onclick = () => answer(false);
  card.append(yes, no);
  turnEl(turn).querySelector(".steps").after(card);
}

function handle(m) {
  switch (m.kind) {
    case "turn": turnEl(m.turn, m.request); setBusy(true); break;
    case "event": addStep(m.turn, m.event.seq, m.type === "error" && ["refused", "provenance"].includes(m.event.kind) ? "refused" : m.type, m.text); break;
    case "approval": addApproval(m.turn, m.approval, m.tool, m.arguments, m.effects); break;
    case "approval_done": {
      const card = document.getElementById("approval-" + m.approval);
      if (card && !card.dataset.decided) decided(card, m.approved, m.timed_out ? "no answer in time" : "");
      break;
    }
    case "error": addStep(m.turn, "x" + m.id, "error", "error   " + m.message); break;
    case "done": finishTurn(m.turn, m.status, m.answer); setBusy(false); break;
  }
  scrollDown();
}

function setBusy(value) { busy = value; setStatus(value ? "working…" : "ready", value ? "busy" : ""); }

async function loadHistory() {
  const r = await fetch("/api/history");
  const body = await r.json();
  if (!r.ok) { showError(body.error); return; }
  log.replaceChildren();
  for (const t of body.turns) {
    turnEl(t.id, t.request);
    for (const e of t.events) addStep(t.id, e.seq, e.kind === "error" && ["refused", "provenance"].includes(e.data.kind) ? "refused" : e.kind, e.text);
    if (t.status !== "running") finishTurn(t.id, t.status, t.answer);
  }
  scrollDown();
}

function connect() {
  const source = new EventSource("/api/events");
  let held = null;  // live messages that arrive while the history is being (re)loaded: replayed after it
  source.addEventListener("hello", async (ev) => {
    const state = JSON.parse(ev.data);
    held = [];
    $("#model").textContent = `${state.model || ""} · ${state.tools.length} tools`;
    try {
      await loadHistory();
      for (const p of state.pending) addApproval(state.turn, p.id, p.tool, p.arguments, []);
      setBusy(state.busy);
    } finally {
      const replay = held;
      held = null;
      for (const m of replay) handle(m);
    }
  });
  source.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    if (held) held.push(m); else handle(m);
  };
  source.onerror = () => setStatus("reconnecting…", "offline");  // EventSource retries by itself
}

async function send(ev) {
  ev.preventDefault();
  const text = input.value;
  showError("");
  let r;
  try {
    r = await fetch("/api/messages", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ text }) });
  } catch (err) {
    showError("The assistant is not reachable; your message is kept, send it again when it is back."); return;
  }
  if (r.status === 202) { input.value = ""; return; }
  let message = `request failed (${r.status})`;
  try { message = (await r.json()).error || message; } catch (_) {}
  showError(message);  // the text stays in the box: nothing typed is lost
}

$("#composer").addEventListener("submit", send);
input.addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); $("#composer").requestSubmit(); }
});
connect();

// The status page: polls /cluster.json once a second and redraws. No framework, no build step.
"use strict";
const palette = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
let last = null;

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  Object.assign(e, attrs || {});
  if (text !== undefined) e.textContent = text;
  return e;
}

function field(info, section, name) {
  const s = info.find((x) => x.name === section);
  return s ? Number(s.fields[name] || 0) : 0;
}

function text(info, section, name) {
  const s = info.find((x) => x.name === section);
  return s && s.fields[name] !== undefined ? s.fields[name] : "";
}

// memoryCard shows the store's used memory against --maxmemory (0: no limit), red at 90%.
function memoryCard(info) {
  const used = field(info, "memory", "used_memory");
  const limit = field(info, "memory", "maxmemory");
  const card = el("div", { className: "card" });
  let label = "memory used (no maxmemory)";
  if (limit > 0) {
    const pct = Math.round((100 * used) / limit);
    label = `memory used of ${text(info, "memory", "maxmemory_human")} maxmemory (${pct}%)`;
    if (used >= 0.9 * limit) card.className = "card bad";
  }
  card.append(el("b", {}, text(info, "memory", "used_memory_human") || "–"), el("span", {}, label));
  return card;
}

function render(data) {
  const c = data.cluster;
  document.getElementById("updated").textContent = "updated " + new Date(data.now).toLocaleTimeString();
  document.getElementById("self").textContent = c ? "node " + c.Self : "single node";
  // Rates from counter deltas between two polls.
  const rates = document.getElementById("rates");
  rates.replaceChildren();
  const counters = [["commands/s", "sessions", "commands_executed"], ["forwarded/s", "sessions", "commands_forwarded"],
    ["replicated ops/s", "cluster", "replicated_ops"], ["expired/s", "sessions", "expired_sessions"]];
  for (const [label, sec, name] of counters) {
    let v = "–";
    if (last) {
      const dt = (data.now - last.now) / 1000;
      v = dt > 0 ? Math.round((field(data.info, sec, name) - field(last.info, sec, name)) / dt) : 0;
    }
    const card = el("div", { className: "card" });
    card.append(el("b", {}, String(v)), el("span", {}, label));
    rates.append(card);
  }
  const card = el("div", { className: "card" });
  card.append(el("b", {}, String(field(data.info, "sessions", "sessions"))), el("span", {}, "sessions held"));
  rates.append(card, memoryCard(data.info));
  last = data;

  const tbody = document.querySelector("#members tbody");
  tbody.replaceChildren();
  const members = c ? c.Members : [];
  const colour = {};
  members.forEach((m, i) => { colour[m.Name] = palette[i % palette.length]; });
  for (const m of members) {
    const tr = el("tr", { className: "member" });
    tr.append(el("td", {}, m.Name), el("td", { className: m.State }, m.State), el("td", {}, m.RESP),
      el("td", {}, m.Gossip), el("td", {}, String(m.Primary)), el("td", {}, String(m.Held)));
    tbody.append(tr);
  }
  const health = document.getElementById("health");
  const ring = document.getElementById("ring");
  ring.replaceChildren();
  if (!c) {
    health.textContent = "This node runs alone: no replication.";
    return;
  }
  const under = c.Partitions.filter((p) => p.UnderReplicated).length;
  const syncing = c.Partitions.filter((p) => p.Syncing).length;
  health.replaceChildren(el("span", { className: under ? "bad" : "ok" },
    `${c.Partitions.length - under} of ${c.Partitions.length} partitions fully replicated (${c.Replicas} copies, ${c.WriteAcks} acks); ` +
    `${syncing} syncing; last hand-off ${c.LastSyncMs} ms; ${c.Repairs} repairs`));
  for (const p of c.Partitions) {
    const d = el("div", { title: `partition ${p.Partition}: ${p.Replicas.join(", ")}` });
    d.style.background = colour[p.Replicas[0]] || "#ccc";
    if (p.UnderReplicated) d.className = "under";
    ring.append(d);
  }
  const legend = document.getElementById("legend");
  legend.replaceChildren();
  for (const m of members) {
    const s = el("span", {});
    const i = el("i");
    i.style.background = colour[m.Name];
    s.append(i, document.createTextNode(m.Name));
    legend.append(s);
  }
}

async function poll() {
  try {
    const r = await fetch("/cluster.json", { cache: "no-store" });
    render(await r.json());
  } catch (e) {
    document.getElementById("updated").textContent = "unreachable: " + e;
  }
}
poll();
setInterval(poll, 1000);

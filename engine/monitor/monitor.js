// Tickwire monitor: lists the rooms (cluster-wide in cluster mode) every
// 1.5 s from /monitor/api/, shows the players of the room clicked, and
// kicks, locks, unlocks and disposes through the same API. Every request
// carries the admin token, taken once from the URL fragment (#token=...)
// or asked for, and kept in sessionStorage (this tab only). Everything
// the server sends is written with textContent, never parsed as HTML:
// room metadata and player names come from players.
"use strict";

const REFRESH_MS = 1500;
const TOKEN_KEY = "tickwire-monitor-token";
const $ = (id) => document.getElementById(id);

let token = "";
let selected = ""; // room id whose players are shown
let timer = 0;
let generation = 0; // the newest refresh; an older one still in flight stops quietly

/** Takes the token from #token=... (then drops it from the address bar) or sessionStorage. */
function loadToken() {
  const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  token = sessionStorage.getItem(TOKEN_KEY) || "";
}

function showLogin(why) {
  clearTimeout(timer);
  $("main").hidden = true;
  $("forget").hidden = true;
  $("login").hidden = false;
  $("login-why").textContent = why;
  $("token").focus();
}

/** Calls the monitor API; throws an Error with the server's message. */
async function api(method, path, body) {
  const init = { method, headers: { Authorization: "Bearer " + token } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch("api/" + path, init);
  let data = null;
  try {
    data = await r.json();
  } catch {
    /* not JSON */
  }
  if (r.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    token = "";
    showLogin("The admin token was refused. Enter the node's admin token.");
    throw new Error("token refused");
  }
  if (!r.ok) throw new Error((data && data.error) || `${method} ${path}: HTTP ${r.status}`);
  return data;
}

function setStatus(text, error = false) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

/** A table cell with text (and a class). */
function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function button(label, action, onClick, cls) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.dataset.action = action;
  if (cls) b.className = cls;
  b.addEventListener("click", (ev) => {
    ev.stopPropagation();
    onClick();
  });
  return b;
}

function bytes(n) {
  if (n < 1024) return `${Math.round(n)} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function metaText(m) {
  return m ? Object.entries(m).map(([k, v]) => `${k}=${v}`).join(", ") : "";
}

/** Lateness over a quarter of the tick interval is a warning, over a whole interval bad. */
function lateClass(r) {
  const interval = r.tickRate > 0 ? 1000 / r.tickRate : 50;
  if (r.tickLateMaxMs > interval) return "num bad";
  if (r.tickLateMaxMs > interval / 4) return "num warn";
  return "num";
}

function renderRooms(list) {
  $("where").textContent = list.clustered ? `cluster (via node ${list.node})` : `node ${list.node}`;
  $("count").textContent = `(${list.total})`;
  const tbody = $("rooms").tBodies[0];
  const rows = list.rooms.map((r) => {
    const tr = document.createElement("tr");
    tr.dataset.room = r.id;
    if (r.id === selected) tr.className = "selected";
    const live = r.live ? "" : " (node not answering)";
    tr.append(
      cell(r.id),
      cell(r.type),
      cell(r.node + live, r.live ? "" : "warn"),
      cell(`${r.players}/${r.maxPlayers}` + (r.reserved ? ` +${r.reserved} reserved` : ""), "num"),
      cell(r.locked ? "locked" : "", r.locked ? "warn" : ""),
      cell(r.private ? "private" : ""),
      cell(metaText(r.metadata), "meta"),
      cell(r.live ? `${r.tickRate} Hz` : "", "num"),
      cell(r.live ? `${r.tickLateMaxMs.toFixed(1)} ms` : "", r.live ? lateClass(r) : "num"),
      cell(r.live ? `${bytes(r.bytesOutPerSec)}/s` : "", "num"),
    );
    const act = document.createElement("td");
    act.append(button(r.locked ? "Unlock" : "Lock", r.locked ? "unlock" : "lock", () => act_(r.locked ? "unlock" : "lock", r.id)));
    tr.append(act);
    tr.addEventListener("click", () => {
      selected = r.id;
      refresh();
    });
    return tr;
  });
  tbody.replaceChildren(...rows);
  const more = list.next ? `Showing the first ${list.rooms.length} of ${list.total} rooms.` : "";
  const down = list.unreachable ? ` Nodes not answering: ${list.unreachable.join(", ")}.` : "";
  $("more").textContent = more + down;
  $("more").hidden = !(more + down);
}

function renderDetail(d) {
  $("detail").hidden = false;
  $("detail-id").textContent = d.id;
  $("detail-sub").textContent =
    `${d.type} on ${d.node}, tick ${d.tick} at ${d.tickRate} Hz, worst tick ${d.tickDurMaxMs.toFixed(2)} ms` +
    `, late max ${d.tickLateMaxMs.toFixed(1)} ms, out ${bytes(d.bytesOutPerSec)}/s, in ${bytes(d.bytesInPerSec)}/s`;
  $("lock").textContent = d.locked ? "Unlock" : "Lock";
  $("lock").dataset.action = d.locked ? "unlock" : "lock";
  const rows = d.playerList.map((p) => {
    const tr = document.createElement("tr");
    tr.dataset.player = String(p.id);
    const conn = p.connected ? "connected" + (p.relayed ? " (relayed)" : "") : `in grace, ${Math.ceil(p.graceLeftMs / 1000)} s left`;
    tr.append(
      cell(String(p.id), "num"),
      cell(p.name),
      cell(p.userId, "dim"),
      cell(conn, p.connected ? "" : "warn"),
      cell(p.rttMs ? `${p.rttMs.toFixed(0)} ms` : "", "num"),
      cell(bytes(p.bytesOut), "num"),
      cell(bytes(p.bytesIn), "num"),
    );
    const act = document.createElement("td");
    act.append(button("Kick", "kick", () => kick(d.id, p), "danger"));
    tr.append(act);
    return tr;
  });
  if (rows.length === 0) {
    const tr = document.createElement("tr");
    const td = cell("No players.", "dim");
    td.colSpan = 8;
    tr.append(td);
    rows.push(tr);
  }
  $("players").tBodies[0].replaceChildren(...rows);
}

async function refresh() {
  clearTimeout(timer);
  const gen = ++generation;
  try {
    const list = await api("GET", "rooms");
    if (gen !== generation) return;
    renderRooms(list);
    if (selected) {
      try {
        const detail = await api("GET", "rooms/" + encodeURIComponent(selected));
        if (gen !== generation) return;
        renderDetail(detail);
      } catch (e) {
        if (!token || gen !== generation) return;
        $("detail").hidden = true;
        setStatus(`Room ${selected}: ${e.message}`, true);
        selected = "";
        timer = setTimeout(refresh, REFRESH_MS);
        return;
      }
    } else {
      $("detail").hidden = true;
    }
    setStatus(`Updated ${new Date().toLocaleTimeString()}`);
  } catch (e) {
    if (!token || gen !== generation) return; // the login form is up, or a newer refresh runs
    setStatus(e.message, true);
  }
  timer = setTimeout(refresh, REFRESH_MS);
}

/** Runs an action on a room, then refreshes. */
async function act_(action, room, path = action, body) {
  try {
    await api("POST", `rooms/${encodeURIComponent(room)}/${path}`, body);
    setStatus(`${action}: done`);
  } catch (e) {
    setStatus(`${action} ${room}: ${e.message}`, true);
  }
  await refresh();
}

function kick(room, p) {
  const reason = $("reason").value.trim();
  return act_("kick", room, `players/${p.id}/kick`, reason ? { reason } : undefined);
}

function start() {
  $("login").hidden = true;
  $("main").hidden = false;
  $("forget").hidden = false;
  refresh();
}

$("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  token = $("token").value.trim();
  $("token").value = "";
  sessionStorage.setItem(TOKEN_KEY, token);
  start();
});
$("forget").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  token = "";
  showLogin("Token forgotten. Enter the node's admin token.");
});
$("lock").addEventListener("click", () => selected && act_($("lock").dataset.action, selected));
$("dispose").addEventListener("click", () => {
  if (selected && confirm(`Dispose room ${selected}? Its players are told the room closed.`)) {
    const room = selected;
    selected = "";
    act_("dispose", room);
  }
});

loadToken();
if (token) start();
else showLogin("This page needs the node's admin token (or open it as /monitor/#token=<token>).");

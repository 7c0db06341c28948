/* The live project channel (templates/projects/channel.html, app/realtime.py).

   Without JavaScript the page works as plain HTML: the history is rendered on the server and
   the form posts and redirects back. This script makes it live: it joins the project over
   Socket.IO, appends pushed messages (deduplicated by id), sends through the socket and falls
   back to HTTP when the socket is down, catches up after a reconnect, and polls
   messages.json every few seconds when no socket transport gets through at all.
   Message text only ever goes into the page through textContent. */
(function () {
  "use strict";

  var POLL_MS = 4000;
  var OFFLINE_AFTER_MS = 6000;
  var SEND_TIMEOUT_MS = 10000;

  var box = document.querySelector('[data-testid="messages"]');
  if (!box || box.getAttribute("data-latest") !== "1") { return; }

  function parse(text) {
    try { return JSON.parse(text || "{}"); } catch (e) { return {}; }
  }

  var cfg = {
    projectId: Number(box.getAttribute("data-project-id")),
    authorRef: box.getAttribute("data-author-ref") || "",
    jsonUrl: box.getAttribute("data-json-url"),
    postUrl: box.getAttribute("data-post-url"),
    readUrl: box.getAttribute("data-read-url"),
    csrf: box.getAttribute("data-csrf") || "",
    locale: (box.getAttribute("data-locale") || "en").replace("_", "-"),
    timezone: box.getAttribute("data-timezone") || "UTC",
    links: parse(box.getAttribute("data-links")),
    t: parse(box.getAttribute("data-i18n"))
  };
  var t = cfg.t;
  var list = box.querySelector('[data-role="list"]');
  var statusEl = document.querySelector('[data-role="status"]');
  var pill = document.querySelector('[data-role="pill"]');
  var form = document.querySelector('[data-role="form"]');
  var textarea = form ? form.querySelector("textarea") : null;
  var sendBtn = form ? form.querySelector('[data-role="send"]') : null;
  var errorEl = form ? form.querySelector('[data-role="error"]') : null;
  var audienceEl = form ? form.querySelector('select[name="audience"]') : null;

  var seen = new Set();
  var lastId = Number(box.getAttribute("data-last-id")) || 0;
  var readId = lastId; // the server marked the page read when it rendered it
  var socket = null;
  var joined = false;
  var pollTimer = null;
  var fetching = false;
  var fetchAgain = false;
  var offlineTimer = null;
  var sending = false;

  Array.prototype.forEach.call(list.querySelectorAll("[data-message-id]"), function (el) {
    seen.add(Number(el.getAttribute("data-message-id")));
  });

  // Times in the reader's time zone and language --------------------------------------------

  var timeFormat = null;
  try {
    timeFormat = new Intl.DateTimeFormat(cfg.locale, { dateStyle: "medium", timeStyle: "short", timeZone: cfg.timezone });
  } catch (e) {
    try { timeFormat = new Intl.DateTimeFormat(cfg.locale, { dateStyle: "medium", timeStyle: "short" }); } catch (e2) { timeFormat = null; }
  }

  function parseIso(iso) {
    var text = String(iso || "").replace(/(\.\d{3})\d+/, "$1");
    if (text && !/([zZ]|[+-]\d\d:?\d\d)$/.test(text)) { text += "Z"; }
    return new Date(text);
  }

  function formatTime(iso) {
    var date = parseIso(iso);
    if (isNaN(date.getTime()) || !timeFormat) { return String(iso || ""); }
    return timeFormat.format(date);
  }

  Array.prototype.forEach.call(list.querySelectorAll("time[datetime]"), function (el) {
    el.textContent = formatTime(el.getAttribute("datetime"));
  });

  // Building and placing messages -------------------------------------------------------------

  function token(value) {
    return String(value || "").replace(/[^a-z_-]/gi, "");
  }

  function element(tag, className, text) {
    var el = document.createElement(tag);
    if (className) { el.className = className; }
    if (text !== undefined) { el.textContent = text; }
    return el;
  }

  function isMine(m) {
    return Boolean(m.author_ref) && m.author_ref === cfg.authorRef;
  }

  function build(m) {
    var el = element("article", "pc-msg pc-msg--" + token(m.author_side) + " pc-msg--kind-" + token(m.kind) +
      (isMine(m) ? " pc-msg--mine" : ""));
    el.id = "m" + m.id;
    el.setAttribute("data-message-id", String(m.id));
    el.setAttribute("data-author-ref", m.author_ref || "");
    el.setAttribute("data-testid", "message");

    var meta = element("header", "pc-msg__meta");
    var author = element("span", "pc-msg__author", m.author || "");
    author.setAttribute("data-testid", "message-author");
    var time = element("time", "pc-msg__time", formatTime(m.created_at));
    time.setAttribute("datetime", m.created_at || "");
    var audience = element("span", "badge pc-aud pc-aud--" + token(m.audience), t[m.audience] || "");
    audience.setAttribute("data-testid", "message-audience");
    meta.appendChild(author);
    meta.appendChild(time);
    meta.appendChild(audience);
    el.appendChild(meta);

    var text = element("div", "pc-msg__text", m.text || "");
    text.setAttribute("data-testid", "message-text");
    el.appendChild(text);

    if (m.masked) {
      var note = element("div", "pc-msg__note", t.masked || "");
      note.setAttribute("data-testid", "masked-note");
      el.appendChild(note);
    }
    if (m.masked_for_others) {
      var hubNote = element("div", "pc-msg__note pc-msg__note--hub", t.masked_for_others || "");
      hubNote.setAttribute("data-testid", "masked-for-others");
      el.appendChild(hubNote);
    }
    var link = Object.prototype.hasOwnProperty.call(cfg.links, m.kind) ? cfg.links[m.kind] : null;
    if (typeof link === "string" && link.charAt(0) === "/") {
      var a = element("a", "pc-msg__link small", (t.open_tab || "Open") + " \u2192");
      a.href = link;
      el.appendChild(a);
    }
    return el;
  }

  function atBottom() {
    return box.scrollHeight - box.scrollTop - box.clientHeight < 60;
  }

  function toBottom() {
    box.scrollTop = box.scrollHeight;
    if (pill) { pill.hidden = true; }
  }

  function place(el, id) {
    var items = list.children;
    for (var i = items.length - 1; i >= 0; i--) {
      if (Number(items[i].getAttribute("data-message-id")) < id) {
        list.insertBefore(el, items[i].nextSibling);
        return;
      }
    }
    list.insertBefore(el, list.firstChild);
  }

  /* Add one message if it is new; ``older`` messages (Load older) never move the view to the bottom. */
  function insert(m, older) {
    var id = Number(m && m.id);
    if (!id || seen.has(id)) { return false; }
    seen.add(id);
    var stick = atBottom();
    var empty = box.querySelector('[data-role="empty"]');
    if (empty) { empty.remove(); }
    place(build(m), id);
    if (older) { return true; }
    if (id > lastId) { lastId = id; }
    if (isMine(m) || stick) {
      toBottom();
    } else if (pill) {
      pill.hidden = false;
    }
    return true;
  }

  function insertAll(messages) {
    var added = 0;
    (messages || []).forEach(function (m) { if (insert(m, false)) { added += 1; } });
    if (added) { markRead(); }
  }

  // Connection status ---------------------------------------------------------------------------

  function setStatus(state) {
    if (!statusEl) { return; }
    statusEl.hidden = false;
    statusEl.className = "pc-status pc-status--" + state;
    statusEl.setAttribute("data-state", state);
    statusEl.textContent = t[state] || state;
  }

  // HTTP: catch-up, polling, sending and the read mark when the socket is down ---------------------

  function getJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (resp) {
      if (resp.status === 401 || resp.status === 403 || resp.status === 404) {
        stopPolling();
        window.location.reload(); // access ended: show the page the server gives now
        throw new Error("gone");
      }
      if (!resp.ok) { throw new Error("HTTP " + resp.status); }
      return resp.json();
    });
  }

  function catchUp() {
    if (fetching) { fetchAgain = true; return; }
    fetching = true;
    getJson(cfg.jsonUrl + "?after=" + encodeURIComponent(lastId)).then(function (data) {
      if (data.has_older) { window.location.reload(); return; } // too much missed: start again from the page
      insertAll(data.messages);
    }).catch(function () { /* the next poll tries again */ }).then(function () {
      fetching = false;
      if (fetchAgain) { fetchAgain = false; catchUp(); }
    });
  }

  function startPolling() {
    setStatus("offline");
    if (pollTimer) { return; }
    catchUp();
    pollTimer = window.setInterval(catchUp, POLL_MS);
  }

  function stopPolling() {
    if (pollTimer) { window.clearInterval(pollTimer); }
    pollTimer = null;
  }

  function armOffline(ms) {
    if (offlineTimer || pollTimer) { return; }
    offlineTimer = window.setTimeout(function () {
      offlineTimer = null;
      if (!socket || !socket.connected || !joined) { startPolling(); }
    }, ms);
  }

  function markRead() {
    if (document.visibilityState !== "visible" || lastId <= readId) { return; }
    readId = lastId;
    if (socket && socket.connected && joined) {
      socket.emit("read", { project_id: cfg.projectId, last_id: readId });
      return;
    }
    fetch(cfg.readUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": cfg.csrf },
      body: JSON.stringify({ last_id: readId })
    }).catch(function () { /* the next visit marks it */ });
  }

  document.addEventListener("visibilitychange", markRead);

  // The socket ----------------------------------------------------------------------------------

  function join() {
    joined = false;
    socket.emit("join", { project_id: cfg.projectId, after_id: lastId }, function (ack) {
      if (!ack || !ack.ok) {
        socket.disconnect();
        startPolling(); // a refusal over HTTP reloads the page (log-in or "not found")
        return;
      }
      joined = true;
      if (offlineTimer) { window.clearTimeout(offlineTimer); offlineTimer = null; }
      stopPolling();
      setStatus("live");
      if (ack.truncated) { window.location.reload(); return; }
      insertAll(ack.messages);
      markRead();
    });
  }

  function connect() {
    if (typeof window.io !== "function") { // the client library is missing: HTTP only
      startPolling();
      return;
    }
    setStatus("connecting");
    socket = window.io({ transports: ["websocket", "polling"], tryAllTransports: true });
    socket.on("connect", join);
    socket.on("message", function (m) {
      if (m && Number(m.project_id) === cfg.projectId) { insertAll([m]); }
    });
    socket.on("disconnect", function (reason) {
      joined = false;
      if (reason === "io server disconnect") { // the server ended it (log-out, removed): no auto-reconnect
        startPolling();
        return;
      }
      setStatus("reconnecting");
      armOffline(OFFLINE_AFTER_MS);
    });
    socket.on("connect_error", function () {
      if (!pollTimer) { setStatus(socket.active ? "reconnecting" : "offline"); }
      if (socket.active) { armOffline(OFFLINE_AFTER_MS); } else { startPolling(); }
    });
    armOffline(OFFLINE_AFTER_MS);
  }

  // Sending -------------------------------------------------------------------------------------

  function showError(message) {
    if (!errorEl) { return; }
    errorEl.textContent = message;
    errorEl.hidden = false;
    if (textarea) { textarea.classList.add("is-invalid"); }
  }

  function hideError() {
    if (!errorEl) { return; }
    errorEl.hidden = true;
    errorEl.textContent = "";
    if (textarea) { textarea.classList.remove("is-invalid"); }
  }

  function sendBySocket(body, audience) {
    return new Promise(function (resolve) {
      socket.timeout(SEND_TIMEOUT_MS).emit("send", { project_id: cfg.projectId, body: body, audience: audience },
        function (err, ack) {
          if (err) { resolve({ ok: false, error: t.send_failed }); return; }
          resolve(ack || { ok: false, error: t.send_failed });
        });
    });
  }

  function sendByHttp(body) {
    var data = new FormData(form);
    data.set("body", body);
    return fetch(cfg.postUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": cfg.csrf },
      body: data
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (payload) {
        if (resp.ok && payload.ok) { return payload; }
        var error = payload.ok === false ? payload.error : payload.message;
        return { ok: false, error: error || t.send_failed };
      });
    });
  }

  function send() {
    if (sending || !textarea) { return; }
    var body = textarea.value;
    if (!body.trim()) {
      showError(t.empty || t.send_failed);
      textarea.focus();
      return;
    }
    sending = true;
    hideError();
    sendBtn.disabled = true;
    sendBtn.textContent = t.sending || sendBtn.textContent;
    var viaSocket = Boolean(socket && socket.connected && joined);
    var audience = audienceEl ? audienceEl.value : "everyone";
    var request = viaSocket ? sendBySocket(body, audience) : sendByHttp(body);
    request.then(function (result) {
      if (!result.ok) {
        showError(result.error || t.send_failed);
        return;
      }
      textarea.value = "";
      if (!viaSocket || !seen.has(Number(result.id))) {
        // Over HTTP nothing is pushed to this page; over the socket the push normally came first.
        window.setTimeout(catchUp, viaSocket ? 1500 : 0);
      }
      toBottom();
    }).catch(function () {
      showError(t.send_failed);
    }).then(function () {
      sending = false;
      sendBtn.disabled = false;
      sendBtn.textContent = t.send || sendBtn.textContent;
      textarea.focus();
    });
  }

  if (form && textarea && sendBtn) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      send();
    });
    textarea.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        send();
      }
    });
    var keysHelp = form.querySelector('[data-role="keys-help"]');
    if (keysHelp) { keysHelp.hidden = false; }
  }

  // Older messages and scrolling ----------------------------------------------------------------

  var older = box.querySelector('[data-role="older"]');
  if (older) {
    older.addEventListener("click", function (event) {
      event.preventDefault();
      var first = list.querySelector("[data-message-id]");
      var before = first ? Number(first.getAttribute("data-message-id")) : 0;
      if (!before) { return; }
      older.classList.add("disabled");
      getJson(cfg.jsonUrl + "?before=" + encodeURIComponent(before)).then(function (data) {
        var height = box.scrollHeight;
        var top = box.scrollTop;
        (data.messages || []).forEach(function (m) { insert(m, true); });
        box.scrollTop = top + (box.scrollHeight - height);
        if (!data.has_older) {
          older.parentNode.replaceChild(element("span", "small text-muted", t.no_older || ""), older);
        } else {
          older.href = cfg.jsonUrl.replace(/\/messages\.json$/, "") + "?before=" +
            encodeURIComponent((data.messages && data.messages.length) ? data.messages[0].id : before);
          older.classList.remove("disabled");
        }
      }).catch(function () {
        older.classList.remove("disabled");
        showError(t.load_failed || t.send_failed);
      });
    });
  }

  box.addEventListener("scroll", function () {
    if (pill && atBottom()) { pill.hidden = true; }
  });
  if (pill) { pill.addEventListener("click", toBottom); }

  var target = /^#m\d+$/.test(window.location.hash) ? document.getElementById(window.location.hash.slice(1)) : null;
  if (target && box.contains(target)) {
    box.scrollTop = target.offsetTop - box.offsetTop - 40;
  } else {
    toBottom();
  }

  connect();
}());

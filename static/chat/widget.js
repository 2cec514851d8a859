/* Live chat widget: <script src="https://APP/chat/widget.js" data-inbox="KEY" async></script>
 *
 * Plain JavaScript, no dependencies. It draws a launcher and a chat panel in
 * a shadow root, so the host page's styles and ours never meet. Everything a
 * visitor or agent wrote is inserted with textContent, never as HTML.
 * Optional attributes: data-user-id + data-user-hash (hex HMAC-SHA256 of the
 * user id with the inbox's secret, computed by the site's server),
 * data-user-name, data-user-email (only prefills the offline form).
 * Protocol: inbox/channels/chat/routes.py and socket.py.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.getAttribute("data-inbox")) {
    return;
  }
  var inbox = script.getAttribute("data-inbox");
  var base = new URL(script.src, location.href);
  var origin = base.origin;
  var storeKey = "inbox-chat:" + origin + ":" + inbox;
  var TYPING_EVERY_MS = 3000;

  function load() {
    try {
      return JSON.parse(localStorage.getItem(storeKey) || "{}") || {};
    } catch (e) {
      return {};
    }
  }
  function save() {
    try {
      localStorage.setItem(storeKey, JSON.stringify(state));
    } catch (e) {
      /* private mode: the chat lasts as long as the page */
    }
  }
  // token: the visitor's session; after: the last message id shown;
  // pending: sent but not yet acknowledged (resent on reconnect, stored once).
  var state = load();
  state.pending = state.pending || [];
  state.after = 0; // the panel starts empty on each page: replay everything

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) {
      node.className = cls;
    }
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  var host = el("div");
  host.setAttribute("data-inbox-chat", "");
  var root = host.attachShadow({ mode: "open" });
  var style = el("style");
  style.textContent = [
    ":host{all:initial}",
    "*{box-sizing:border-box;font:14px/1.4 system-ui,sans-serif}",
    ".launcher{position:fixed;right:20px;bottom:20px;z-index:2147483000;border:0;border-radius:24px;padding:12px 18px;background:#2457c5;color:#fff;cursor:pointer;box-shadow:0 2px 8px rgba(0,0,0,.25)}",
    ".panel{position:fixed;right:20px;bottom:76px;z-index:2147483000;width:320px;max-width:calc(100vw - 40px);height:440px;max-height:calc(100vh - 100px);display:flex;flex-direction:column;background:#fff;color:#1d2330;border-radius:10px;box-shadow:0 4px 24px rgba(0,0,0,.25);overflow:hidden}",
    ".panel[hidden]{display:none}",
    ".head{padding:10px 14px;background:#2457c5;color:#fff;font-weight:600}",
    ".status{padding:4px 14px;font-size:12px;color:#5b6475;background:#f3f5f9}",
    ".log{flex:1;overflow-y:auto;padding:10px 12px;display:flex;flex-direction:column;gap:6px}",
    ".msg{max-width:85%;padding:6px 10px;border-radius:10px;white-space:pre-wrap;word-wrap:break-word}",
    ".mine{align-self:flex-end;background:#2457c5;color:#fff}",
    ".theirs{align-self:flex-start;background:#eef1f6}",
    ".pending{opacity:.6}",
    ".author{display:block;font-size:11px;color:#5b6475}",
    ".typing{padding:0 14px 4px;font-size:12px;color:#8a5a00;min-height:18px}",
    ".offline{padding:8px 12px;border-top:1px solid #e3e7ee;background:#fffbea}",
    ".offline[hidden]{display:none}",
    ".offline input{width:100%;margin:4px 0;padding:6px;border:1px solid #c8cfdb;border-radius:6px}",
    "form.compose{display:flex;gap:6px;padding:8px;border-top:1px solid #e3e7ee}",
    "textarea{flex:1;resize:none;height:40px;padding:6px;border:1px solid #c8cfdb;border-radius:6px}",
    "button.send,.offline button{border:0;border-radius:6px;padding:6px 12px;background:#2457c5;color:#fff;cursor:pointer}"
  ].join("\n");
  root.appendChild(style);

  var launcher = el("button", "launcher", "Chat with us");
  launcher.type = "button";
  var panel = el("div", "panel");
  panel.hidden = true;
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", "Chat");
  var head = el("div", "head", "Chat with us");
  var status = el("div", "status", "Connecting…");
  var log = el("div", "log");
  log.setAttribute("aria-live", "polite");
  var typingLine = el("div", "typing");
  var offline = el("form", "offline");
  offline.hidden = true;
  var offlineText = el("div", "", "Nobody is here right now. Leave your email and we'll answer there.");
  var emailInput = el("input");
  emailInput.type = "email";
  emailInput.name = "email";
  emailInput.placeholder = "you@example.com";
  emailInput.value = script.getAttribute("data-user-email") || "";
  var emailButton = el("button", "", "Email me the answer");
  emailButton.type = "submit";
  offline.appendChild(offlineText);
  offline.appendChild(emailInput);
  offline.appendChild(emailButton);
  var compose = el("form", "compose");
  var input = el("textarea");
  input.name = "text";
  input.placeholder = "Write a message…";
  input.setAttribute("aria-label", "Message");
  var send = el("button", "send", "Send");
  send.type = "submit";
  compose.appendChild(input);
  compose.appendChild(send);
  panel.appendChild(head);
  panel.appendChild(status);
  panel.appendChild(log);
  panel.appendChild(typingLine);
  panel.appendChild(offline);
  panel.appendChild(compose);
  root.appendChild(launcher);
  root.appendChild(panel);

  var socket = null;
  var retryMs = 500;
  var shown = {}; // message id or client id -> element
  var agentsOnline = true;
  var followUp = false;

  function show(line) {
    var key = line.id ? "m" + line.id : null;
    if (key && shown[key]) {
      return;
    }
    var node = line.client_id && shown["c" + line.client_id];
    if (!node) {
      node = el("div", "msg " + (line.mine ? "mine" : "theirs"));
      if (!line.mine && line.author) {
        node.appendChild(el("span", "author", line.author));
      }
      node.appendChild(el("span", "text", line.text));
      log.appendChild(node);
    }
    if (line.client_id) {
      shown["c" + line.client_id] = node;
    }
    if (key) {
      shown[key] = node;
      node.classList.remove("pending");
      state.after = Math.max(state.after, line.id);
    } else {
      node.classList.add("pending");
    }
    log.scrollTop = log.scrollHeight;
  }

  function updateStatus() {
    if (agentsOnline) {
      status.textContent = followUp ? "We're here. (We also answer by email.)" : "We're here to help.";
    } else {
      status.textContent = followUp
        ? "We're away; we'll answer by email."
        : "We're away right now.";
    }
    offline.hidden = agentsOnline || followUp;
  }

  function deliver(data) {
    if (data.type === "message") {
      show(data);
      if (!data.mine) {
        typingLine.textContent = "";
      }
    } else if (data.type === "ack") {
      state.pending = state.pending.filter(function (p) {
        return p.client_id !== data.client_id;
      });
      save();
      var node = shown["c" + data.client_id];
      if (node) {
        shown["m" + data.id] = node;
        node.classList.remove("pending");
      }
      state.after = Math.max(state.after, data.id);
    } else if (data.type === "typing") {
      typingLine.textContent = data.typing ? "Support is typing…" : "";
    } else if (data.type === "status") {
      agentsOnline = !!data.agents_online;
      followUp = !!data.follow_up;
      updateStatus();
    } else if (data.type === "follow_up") {
      followUp = true;
      updateStatus();
    } else if (data.type === "error") {
      status.textContent = data.reason || "Something went wrong.";
    }
  }

  function wire(payload) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(payload));
      return true;
    }
    return false;
  }

  function connect() {
    var body = { inbox: inbox, token: state.token || null, name: script.getAttribute("data-user-name") || "" };
    if (script.getAttribute("data-user-id")) {
      body.user_id = script.getAttribute("data-user-id");
      body.user_hash = script.getAttribute("data-user-hash") || "";
    }
    fetch(origin + "/chat/session", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "omit"
    })
      .then(function (r) {
        if (!r.ok) {
          throw new Error("session " + r.status);
        }
        return r.json();
      })
      .then(function (session) {
        if (session.token !== state.token) {
          state.pending = [];
        }
        state.token = session.token;
        save();
        open(session.socket);
      })
      .catch(function () {
        status.textContent = "Offline. Retrying…";
        retry();
      });
  }

  function retry() {
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 15000);
  }

  function open(path) {
    var url = new URL(path, origin);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("inbox", inbox);
    url.searchParams.set("token", state.token);
    url.searchParams.set("after", String(state.after));
    socket = new WebSocket(url.toString());
    socket.onopen = function () {
      retryMs = 500;
      // What was sent but never acknowledged goes again; the server stores it once.
      state.pending.forEach(function (p) {
        wire({ type: "message", client_id: p.client_id, text: p.text });
      });
    };
    socket.onmessage = function (evt) {
      try {
        deliver(JSON.parse(evt.data));
      } catch (e) {
        /* not ours */
      }
    };
    socket.onclose = function (evt) {
      socket = null;
      if (evt.code === 4401) {
        state.token = null; // unknown session: start a new one
        save();
      }
      status.textContent = "Reconnecting…";
      retry();
    };
  }

  function newId() {
    var bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  var typingTimer = null;
  function stopTyping() {
    if (typingTimer !== null) {
      clearInterval(typingTimer);
      typingTimer = null;
      wire({ type: "idle" });
    }
  }
  input.addEventListener("input", function () {
    if (!input.value.trim()) {
      stopTyping();
      return;
    }
    if (typingTimer === null) {
      wire({ type: "typing" });
      typingTimer = setInterval(function () {
        if (input.value.trim()) {
          wire({ type: "typing" });
        } else {
          stopTyping();
        }
      }, TYPING_EVERY_MS);
    }
  });

  compose.addEventListener("submit", function (evt) {
    evt.preventDefault();
    var text = input.value.trim();
    if (!text) {
      return;
    }
    var pending = { client_id: newId(), text: text };
    state.pending.push(pending);
    save();
    show({ mine: true, text: text, client_id: pending.client_id });
    wire({ type: "message", client_id: pending.client_id, text: text });
    input.value = "";
    stopTyping();
  });
  input.addEventListener("keydown", function (evt) {
    if (evt.key === "Enter" && !evt.shiftKey) {
      evt.preventDefault();
      compose.requestSubmit();
    }
  });
  offline.addEventListener("submit", function (evt) {
    evt.preventDefault();
    if (emailInput.value.trim()) {
      wire({ type: "email", address: emailInput.value.trim() });
    }
  });
  launcher.addEventListener("click", function () {
    panel.hidden = !panel.hidden;
    if (!panel.hidden) {
      input.focus();
    }
  });

  function mount() {
    document.body.appendChild(host);
    connect();
  }
  if (document.body) {
    mount();
  } else {
    document.addEventListener("DOMContentLoaded", mount);
  }
})();

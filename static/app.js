// Live updates for the agent UI, on top of htmx 2.0.11 and htmx-ext-ws 2.0.4.
// Loaded (deferred) after both, so the ws extension is registered already;
// htmx only connects sockets on DOMContentLoaded, after this has run.
// No inline script, eval or inline style anywhere: the CSP forbids them.
(function () {
  "use strict";

  // Where a pushed element would land, read the way htmx reads hx-swap-oob.
  function oobTarget(op) {
    var spec = op.getAttribute("hx-swap-oob") || "true";
    var colon = spec.indexOf(":");
    var selector = colon > 0 ? spec.slice(colon + 1) : "#" + CSS.escape(op.id);
    try {
      return document.querySelector(selector);
    } catch (err) {
      return null;
    }
  }

  // The server can't know what each page holds (a row may be on page two, or
  // already removed). It sends "replace/delete if present" and "insert if
  // absent" (data-live-absent) swaps; this drops the ones that don't apply
  // here, which htmx would otherwise report as console errors. Decisions are
  // made against the page as it was before the batch.
  htmx.defineExtension("live", {
    transformResponse: function (text) {
      var batch = document.createElement("template");
      batch.innerHTML = text;
      Array.prototype.slice.call(batch.content.children).forEach(function (op) {
        var absent = op.getAttribute("data-live-absent");
        if (!oobTarget(op) || (absent && document.getElementById(absent))) {
          op.remove();
        }
      });
      return batch.innerHTML;
    }
  });

  // htmx-ext-ws reconnects to the URL it first read; resume instead from the
  // last event this page applied (#live-seq, updated by every batch).
  var connect = htmx.createWebSocket || function (url) { return new WebSocket(url); };
  var openSockets = new Set();
  htmx.createWebSocket = function (url) {
    var marker = document.getElementById("live-seq");
    var resumeAt = new URL(url);
    if (marker && marker.dataset.seq) {
      resumeAt.searchParams.set("since", marker.dataset.seq);
    }
    var socket = connect(resumeAt.toString());
    quietWhenClosedOnPurpose(socket);
    openSockets.add(socket);
    socket.addEventListener("close", function () { openSockets.delete(socket); });
    return socket;
  };
  // When a swap removes the element that holds a socket, htmx-ext-ws closes
  // it; one still connecting then fires "error", which htmx logs as a console
  // error though nothing went wrong. Errors after the page itself closed the
  // socket are not passed on; every other error still is.
  function quietWhenClosedOnPurpose(socket) {
    var closedOnPurpose = false;
    var handler = null;
    var close = socket.close.bind(socket);
    socket.close = function (code, reason) {
      closedOnPurpose = true;
      return close(code, reason);
    };
    Object.defineProperty(socket, "onerror", {
      configurable: true,
      get: function () { return handler; },
      set: function (fn) { handler = fn; },
    });
    socket.addEventListener("error", function (event) {
      if (!closedOnPurpose && handler) {
        handler.call(socket, event);
      }
    });
  }

  // Leaving the page tears down a socket that may still be connecting; the
  // browser then fires "error", which htmx would log as a console error.
  // Closing them first, quietly, is what leaving actually means.
  window.addEventListener("pagehide", function () {
    openSockets.forEach(function (socket) {
      socket.close(1000, "page closed");
    });
    openSockets.clear();
  });

  function setState(state) {
    var banner = document.getElementById("live-status");
    if (banner && banner.dataset.state !== "stale") {
      banner.dataset.state = state;
    }
  }

  document.addEventListener("htmx:wsOpen", function () {
    setState("");
    presence.opened();
  });

  // --- Presence: tell the server when this page is hidden or shown, and
  // while the agent has a draft in the composer (inbox/realtime/socket_presence.py).
  // The server forgets typing 8 s after the last "typing", so it is repeated
  // while the draft is open and the page is in front of the agent.
  var presence = (function () {
    var TYPING_EVERY_MS = 3000;
    var typingTimer = null;

    function send(state) {
      var message = JSON.stringify({ presence: state });
      openSockets.forEach(function (socket) {
        if (socket.readyState === WebSocket.OPEN) {
          socket.send(message);
        }
      });
    }
    function drafting() {
      var text = document.getElementById("composer-text");
      return !!(text && text.value.trim() && !document.hidden);
    }
    function update() {
      if (drafting()) {
        if (typingTimer === null) {
          send("typing");
          typingTimer = setInterval(function () {
            if (drafting()) {
              send("typing");
            } else {
              update();
            }
          }, TYPING_EVERY_MS);
        }
      } else if (typingTimer !== null) {
        clearInterval(typingTimer);
        typingTimer = null;
        send("idle");
      }
    }
    document.addEventListener("input", function (evt) {
      if (evt.target && evt.target.id === "composer-text") {
        update();
      }
    });
    document.addEventListener("visibilitychange", function () {
      send(document.hidden ? "hidden" : "visible");
      update();
    });
    // A sent draft is emptied by the answer's swap, which fires no "input".
    document.addEventListener("htmx:afterSwap", update);
    document.addEventListener("htmx:oobAfterSwap", update);

    return {
      opened: function () {
        // A new (or resumed) socket starts online and not typing.
        if (document.hidden) {
          send("hidden");
        }
        if (typingTimer !== null) {
          clearInterval(typingTimer);
          typingTimer = null;
        }
        update();
      }
    };
  })();

  // The board reloads its summary when work or presence changes; a burst of
  // changes costs one reload a second at most, the last change included.
  var boardReload = null;
  document.addEventListener("htmx:oobAfterSwap", function (evt) {
    if (evt.detail.target && evt.detail.target.id === "board-tick" && boardReload === null) {
      boardReload = setTimeout(function () {
        boardReload = null;
        htmx.trigger(document.body, "board-changed");
      }, 1000);
    }
  });

  document.addEventListener("htmx:wsClose", function (evt) {
    var code = evt.detail.event.code;
    if (code === 4408) {
      setState("stale"); // dropped for falling behind: only a reload is whole
    } else if (code === 4401 || code === 4410) {
      setState("signed-out");
    } else if ([1006, 1011, 1012, 1013].indexOf(code) >= 0) {
      setState("reconnecting"); // htmx-ext-ws retries these, with backoff
    }
  });

  // An agent's own note arrives twice: in the answer to their post and over
  // the socket, in either order. Whichever lands second replaces the first.
  function dropOlderCopies(elt) {
    if (!elt.id || !/^(m|conv)-\d+$/.test(elt.id)) {
      return;
    }
    document.querySelectorAll("#" + CSS.escape(elt.id)).forEach(function (other) {
      if (other !== elt) {
        other.remove();
      }
    });
  }
  // Right after the swap, in the same task, so the copy is never painted;
  // htmx:load alone comes only after the settle delay.
  function dropCopiesOfNewcomers() {
    document.querySelectorAll(".htmx-added[id]").forEach(dropOlderCopies);
  }
  document.addEventListener("htmx:afterSwap", dropCopiesOfNewcomers);
  document.addEventListener("htmx:oobAfterSwap", dropCopiesOfNewcomers);
  document.addEventListener("htmx:load", function (evt) {
    dropOlderCopies(evt.detail.elt);
  });

  // A live update may replace a form the agent is typing in (a note on the
  // customer): carry the text and the caret over to the new form.
  var typing = null;
  document.addEventListener("htmx:oobBeforeSwap", function (evt) {
    var field = document.activeElement;
    typing = null;
    if (field && field.id && field.value && evt.detail.target.contains(field)) {
      typing = { id: field.id, value: field.value, start: field.selectionStart, end: field.selectionEnd };
    }
  });
  document.addEventListener("htmx:oobAfterSwap", function () {
    var field = typing && document.getElementById(typing.id);
    if (field && !field.value) {
      field.value = typing.value;
      field.focus();
      if (typeof typing.start === "number" && field.setSelectionRange) {
        field.setSelectionRange(typing.start, typing.end);
      }
    }
    typing = null;
  });
})();

// --- Collision control: the composer's based_on ---------------------------
// The reply form carries the id of the newest message the agent had seen when
// they started the draft (#composer-based-on); the server refuses a reply if
// the customer or a colleague wrote after it. While the draft is empty, follow
// this conversation's messages as they arrive live; from the first keystroke
// the value is frozen (a refused reply's answer moves it on, out of band).
(function () {
  "use strict";

  function followTimeline() {
    var basedOn = document.getElementById("composer-based-on");
    var text = document.getElementById("composer-text");
    if (!basedOn || !text || text.value) {
      return; // no composer here, or a draft under way: keep what it began from
    }
    var newest = Number(basedOn.value) || 0;
    document.querySelectorAll("#timeline-items .msg.is-current[id^='m-']").forEach(function (item) {
      var id = Number(item.id.slice(2));
      if (id > newest) {
        newest = id;
      }
    });
    if (newest > 0) {
      basedOn.value = String(newest);
    }
  }

  // Fires for the page and for every swap: live messages, a post's answer.
  document.addEventListener("htmx:load", followTimeline);
  // Emptying the draft counts as not having started one.
  document.addEventListener("input", function (evt) {
    if (evt.target && evt.target.id === "composer-text" && !evt.target.value) {
      followTimeline();
    }
  });
})();

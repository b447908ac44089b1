/* xacthuc — the passkey (WebAuthn) ceremony of the login and the profile pages.
   Markup: <form data-passkey="get|create" data-options="JSON"> with a submit button. On submit
   the options (the server's challenge, base64url fields) go to the browser's authenticator;
   what it returns is posted as the hidden field "credential" (JSON, base64url fields), or the
   error's name as "error" (the server answers with a message and a fresh challenge).
   window.xacthucPasskey.get/create(options) return that JSON as a string, for tests. */
(function () {
  "use strict";

  function fromB64url(s) {
    var b64 = s.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) {
      b64 += "=";
    }
    var bin = atob(b64);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out.buffer;
  }

  function toB64url(buf) {
    if (!buf) {
      return null;
    }
    var bytes = new Uint8Array(buf);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) {
      bin += String.fromCharCode(bytes[i]);
    }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function listWithIds(list) {
    return (list || []).map(function (c) {
      var copy = Object.assign({}, c);
      copy.id = fromB64url(c.id);
      return copy;
    });
  }

  function requestOptions(options) {
    var pk = Object.assign({}, options.publicKey);
    pk.challenge = fromB64url(pk.challenge);
    pk.allowCredentials = listWithIds(pk.allowCredentials);
    return { publicKey: pk };
  }

  function creationOptions(options) {
    var pk = Object.assign({}, options.publicKey);
    pk.challenge = fromB64url(pk.challenge);
    pk.user = Object.assign({}, pk.user, { id: fromB64url(pk.user.id) });
    pk.excludeCredentials = listWithIds(pk.excludeCredentials);
    return { publicKey: pk };
  }

  function credentialJson(cred) {
    var r = cred.response;
    var response = { clientDataJSON: toB64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toB64url(r.attestationObject);
      if (r.getTransports) {
        response.transports = r.getTransports();
      }
    } else {
      response.authenticatorData = toB64url(r.authenticatorData);
      response.signature = toB64url(r.signature);
      response.userHandle = toB64url(r.userHandle);
    }
    return JSON.stringify({
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      response: response,
      extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
    });
  }

  function get(options) {
    return navigator.credentials.get(requestOptions(options)).then(credentialJson);
  }

  function create(options) {
    return navigator.credentials.create(creationOptions(options)).then(credentialJson);
  }

  window.xacthucPasskey = { get: get, create: create };

  function post(form, name, value) {
    var input = document.createElement("input");
    input.type = "hidden";
    input.name = name;
    input.value = value;
    form.appendChild(input);
    form.submit();
  }

  function init() {
    var form = document.querySelector("form[data-passkey]");
    if (!form) {
      return;
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = form.querySelector("button[type=submit]");
      if (button) {
        button.disabled = true;
      }
      if (!window.PublicKeyCredential || !navigator.credentials) {
        post(form, "error", "NotSupportedError");
        return;
      }
      var options = JSON.parse(form.getAttribute("data-options"));
      var ceremony = form.getAttribute("data-passkey") === "create" ? create : get;
      ceremony(options).then(
        function (json) {
          post(form, "credential", json);
        },
        function (err) {
          post(form, "error", (err && err.name) || "Error");
        }
      );
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();

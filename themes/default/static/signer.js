/* xacthuc — "USB ký số": the login page's side of the signing agent (docs/signer.md).

   The page never talks to the token: a local signing agent does, and asks for the PIN itself.
   Agents are pluggable adapters, tried in order; the first whose detect() resolves true is used:

     {
       name: "…",
       detect(): Promise<boolean>            // is this agent on this computer?
       listCertificates(): Promise<[{ id, subject, issuer, notAfter, token }]>
       sign({ origin, challenge, certificateId }): Promise<{ cms, certificate }>
                                             // cms: standard base64 DER CMS SignedData,
                                             // detached, over SHA-256(origin) ‖ SHA-256(challenge),
                                             // with the signer's certificate in it
     }

   Failures reject with a SignerError whose code the page has guidance for: "no_agent",
   "local_network", "no_token", "no_certificate", "pin_incorrect", "pin_locked",
   "pin_cancelled", "failed".

   Markup: <form data-signer="{challenge, origin, agent_url, download_url}"> with #usb-start;
   the answer is posted as the hidden fields cms, origin and challenge.
   window.xacthucSigner = { SignerError, register(adapter), adapters, xacthucAgent(url) }. */
(function () {
  "use strict";

  function SignerError(code, detail) {
    this.name = "SignerError";
    this.code = code;
    this.message = detail || code;
  }
  SignerError.prototype = Object.create(Error.prototype);

  var AGENT_CODES = ["no_token", "no_certificate", "pin_incorrect", "pin_locked", "pin_cancelled"];

  /* Chrome's Local Network Access: a refused prompt makes fetch fail exactly like an agent that
     is not running (a TypeError). The permission's state tells the two apart where the browser
     exposes it (its name changed across Chrome versions). */
  function localNetworkDenied() {
    if (!navigator.permissions || !navigator.permissions.query) {
      return Promise.resolve(false);
    }
    var names = ["local-network-access", "loopback-network", "local-network"];
    return Promise.all(
      names.map(function (name) {
        return navigator.permissions.query({ name: name }).then(
          function (status) {
            return status.state === "denied";
          },
          function () {
            return false;
          }
        );
      })
    ).then(function (denied) {
      return denied.indexOf(true) !== -1;
    });
  }

  /* Ours: xacthuc-signer's HTTP API on 127.0.0.1. */
  function xacthucAgent(baseUrl) {
    function call(method, path, body) {
      var init = { method: method, mode: "cors", credentials: "omit", cache: "no-store" };
      if (body) {
        init.headers = { "Content-Type": "application/json" };
        init.body = JSON.stringify(body);
      }
      return fetch(baseUrl + path, init).then(
        function (response) {
          return response.json().then(
            function (json) {
              if (response.ok) {
                return json;
              }
              var code = AGENT_CODES.indexOf(json.error) !== -1 ? json.error : "failed";
              throw new SignerError(code, json.message);
            },
            function () {
              throw new SignerError("failed", "the agent answered something that is not JSON");
            }
          );
        },
        function () {
          return localNetworkDenied().then(function (denied) {
            throw new SignerError(denied ? "local_network" : "no_agent");
          });
        }
      );
    }
    return {
      name: "xacthuc-signer",
      detect: function () {
        return call("GET", "/v1/status").then(
          function (status) {
            return status.agent === "xacthuc-signer";
          },
          function (err) {
            if (err.code === "no_agent") {
              return false;
            }
            throw err;
          }
        );
      },
      listCertificates: function () {
        return call("GET", "/v1/certificates").then(function (json) {
          return json.certificates.map(function (c) {
            return { id: c.id, subject: c.subject, issuer: c.issuer, notAfter: c.not_after, token: c.token };
          });
        });
      },
      sign: function (request) {
        return call("POST", "/v1/sign", {
          origin: request.origin,
          challenge: request.challenge,
          certificate_id: request.certificateId,
        }).then(function (json) {
          return { cms: json.cms, certificate: json.certificate };
        });
      },
    };
  }

  /* Placeholders for the vendors' plugins that citizens already have (not working code: they
     detect nothing until written against the vendor's documented protocol). Both are local
     WebSocket services: an adapter opens the socket, asks the plugin to list the token's
     certificates and to sign the 64 bytes SHA-256(origin) ‖ SHA-256(challenge) as a detached
     CMS/PKCS#7 with the certificate included, and maps the plugin's error codes to SignerError
     codes. See docs/signer.md, "Adding a vendor plugin". */
  function placeholder(name) {
    function unavailable() {
      return Promise.reject(new SignerError("no_agent", name + " adapter not implemented"));
    }
    return {
      name: name,
      detect: function () {
        return Promise.resolve(false);
      },
      listCertificates: unavailable,
      sign: unavailable,
    };
  }

  var adapters = [];

  function register(adapter) {
    adapters.push(adapter);
  }

  window.xacthucSigner = {
    SignerError: SignerError,
    register: register,
    adapters: adapters,
    xacthucAgent: xacthucAgent,
    placeholders: { vnptCaPlugin: placeholder("VNPT-CA Plugin"), vgcaSignService: placeholder("VGCA Sign Service") },
  };

  /* The first adapter that is present, or a SignerError("no_agent"). An adapter's own error
     (e.g. "local_network") wins over "no_agent" when no other adapter is present. */
  function findAdapter() {
    var firstError = null;
    var i = 0;
    function next() {
      if (i >= adapters.length) {
        return Promise.reject(firstError || new SignerError("no_agent"));
      }
      var adapter = adapters[i++];
      return adapter.detect().then(
        function (present) {
          return present ? adapter : next();
        },
        function (err) {
          firstError = firstError || err;
          return next();
        }
      );
    }
    return next();
  }

  function init() {
    var form = document.querySelector("form[data-signer]");
    if (!form) {
      return;
    }
    var options = JSON.parse(form.getAttribute("data-signer"));
    register(xacthucAgent(options.agent_url));
    register(window.xacthucSigner.placeholders.vnptCaPlugin);
    register(window.xacthucSigner.placeholders.vgcaSignService);

    var start = document.getElementById("usb-start");
    var retry = document.getElementById("usb-retry");
    var select = document.getElementById("usb-certificate");
    var status = document.getElementById("usb-status");
    var guide = document.getElementById("usb-guide");
    var download = document.getElementById("usb-download");
    var adapter = null;

    if (options.download_url) {
      download.href = options.download_url;
      download.hidden = false;
    }

    function say(key) {
      var text = document.querySelector('[data-signer-text="' + key + '"]');
      status.textContent = text ? text.textContent : "";
      status.hidden = !text;
    }

    function fail(err) {
      var code = err && err.code ? err.code : "failed";
      status.hidden = true;
      var shown = false;
      guide.querySelectorAll("[data-signer-guide]").forEach(function (p) {
        p.hidden = p.getAttribute("data-signer-guide") !== code;
        shown = shown || !p.hidden;
      });
      if (!shown) {
        guide.querySelector('[data-signer-guide="failed"]').hidden = false;
      }
      guide.hidden = false;
      guide.setAttribute("data-code", code);
      retry.hidden = false;
      start.disabled = !adapter || select.options.length === 0;
    }

    function prepare() {
      guide.hidden = true;
      retry.hidden = true;
      start.disabled = true;
      say("checking");
      findAdapter()
        .then(function (found) {
          adapter = found;
          return found.listCertificates();
        })
        .then(function (certificates) {
          select.textContent = "";
          certificates.forEach(function (c) {
            var option = document.createElement("option");
            option.value = c.id;
            option.textContent = c.subject + " — " + c.issuer + " (" + c.notAfter + ")";
            select.appendChild(option);
          });
          document.getElementById("usb-certificates").hidden = false;
          status.hidden = true;
          start.disabled = false;
        })
        .catch(fail);
    }

    function post(name, value) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = name;
      input.value = value;
      form.appendChild(input);
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!adapter || !select.value) {
        return;
      }
      start.disabled = true;
      guide.hidden = true;
      say("waiting_pin");
      var origin = window.location.origin;
      adapter
        .sign({ origin: origin, challenge: options.challenge, certificateId: select.value })
        .then(function (answer) {
          post("cms", answer.cms);
          post("origin", origin);
          post("challenge", options.challenge);
          form.submit();
        })
        .catch(fail);
    });
    retry.addEventListener("click", prepare);
    prepare();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();

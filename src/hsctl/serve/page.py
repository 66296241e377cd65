"""The small HTML page at ``/``: type a text, see the prediction. No external assets."""

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>hsctl: hate-speech classifier</title>
<style>
 body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
 textarea { width: 100%; min-height: 6rem; font: inherit; padding: .5rem; box-sizing: border-box; }
 button { margin-top: .5rem; padding: .4rem 1.2rem; font: inherit; cursor: pointer; }
 #result { margin-top: 1rem; padding: .8rem; border-radius: .3rem; background: #f3f3f3; min-height: 1.5rem; }
 .hate { background: #fde2e2 !important; } .ok { background: #e2f5e4 !important; }
 small { color: #666; }
</style>
</head>
<body>
<h1>hsctl</h1>
<p>Type a text and classify it. <small>Model <span id="version">__VERSION__</span>,
threshold <span id="threshold">__THRESHOLD__</span>. API docs at <a href="docs">/docs</a>.</small></p>
<label for="text">Text</label>
<textarea id="text" name="text" maxlength="__MAXCHARS__" placeholder="Write something..."></textarea>
<div id="keyrow" __KEYHIDDEN__><label for="key">API key</label> <input id="key" type="password"></div>
<button id="classify" type="button">Classify</button>
<div id="result" role="status" aria-live="polite"></div>
<script>
const btn = document.getElementById("classify");
btn.addEventListener("click", async () => {
  const out = document.getElementById("result");
  out.className = ""; out.textContent = "...";
  const headers = {"Content-Type": "application/json"};
  const key = document.getElementById("key").value;
  if (key) headers["X-API-Key"] = key;
  try {
    const resp = await fetch("predict", {method: "POST", headers,
      body: JSON.stringify({text: document.getElementById("text").value})});
    const data = await resp.json();
    if (!resp.ok) { out.textContent = "Error " + resp.status + ": " + data.error; return; }
    out.className = data.label === "__POSITIVE__" ? "hate" : "ok";
    out.innerHTML = "<strong id=\\"label\\"></strong> (probability of __POSITIVE__: <span id=\\"prob\\"></span>)";
    document.getElementById("label").textContent = data.label;
    document.getElementById("prob").textContent = data.hate_probability.toFixed(3);
  } catch (err) { out.textContent = "Request failed: " + err; }
});
</script>
</body>
</html>
"""


def render_page(version: str, threshold: float, positive: str, max_chars: int, needs_key: bool) -> str:
    """Fill in the model details (all values are ours, not user input)."""
    import html

    return (
        PAGE.replace("__VERSION__", html.escape(version))
        .replace("__THRESHOLD__", f"{threshold:.3f}")
        .replace("__POSITIVE__", html.escape(positive))
        .replace("__MAXCHARS__", str(max_chars))
        .replace("__KEYHIDDEN__", "" if needs_key else "hidden")
    )

#!/usr/bin/env python3
"""The built site, read in a real browser with the network cut.

Copies the site to a fresh folder (so that nothing can depend on where it was built), renders
every tutorial page and a sample of API pages in headless Chromium -- from disk, and a few of them
over HTTP as well -- and fails if a rendered page shows raw TeX (MathJax did not run), has a broken
image or a broken local link, or refers to anything outside the site by an absolute path. Reading
the files alone, it also fails if any page shows a code span that Doxygen typeset as a quotation
(a stray backtick), or if a tutorial page cannot be reached from index.html by following links.

Usage: check_site.py HTML_DIR DOCS_DIR
  HTML_DIR  the built site (build/docs/html)
  DOCS_DIR  the source pages (docs/), whose labels name the tutorial pages to render
Exits 0 if every page passes, 1 otherwise, 2 on bad usage.
"""
import functools
import html.parser
import http.server
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.parse

# API pages rendered besides the tutorial pages: classes with formulas, a header's page, a source
# listing (whose comments carry the formulas) and the index of classes.
API_SAMPLE = [
    "classbackprop_1_1Dense.html",
    "classbackprop_1_1Tanh.html",
    "classbackprop_1_1SoftmaxCrossEntropy.html",
    "classbackprop_1_1Adam.html",
    "activations_8hpp.html",
    "dense_8hpp_source.html",
    "annotated.html",
]
# Pages also rendered over HTTP (the rest only from disk).
HTTP_SAMPLE = ["index.html", "tutorial_dense.html", "classbackprop_1_1Dense.html"]

# Text that must not survive typesetting: Doxygen's and MathJax's delimiters and TeX commands.
RAW_TEX = re.compile(r"\\f\$|\\f\[|\\f\]|\$\$|\\\(|\\\)|\\\[|\\\]|\\(frac|partial|sum|mathbb|"
                     r"text|begin|end|operatorname|qquad|quad|left|right|cdot|top)\b")
# A code span Doxygen 1.9 did not take for code: in `a 'b' c` a quote followed by anything but a
# letter or digit makes it typeset a quotation instead, ‘a 'b’ c` with a stray backtick (and in
# <code>'b'</code> it turns the last quote into ’). Neither a backtick nor an opening quotation
# mark belongs in the prose of these pages, nor a typographic quote in code; write such a span
# with two backticks, ``a 'b' c``, which Doxygen takes as code whatever it holds, on at most two
# lines (across three it fails the same way).
STRAY_CODE_SPAN = re.compile(r"[`\u2018]")
TYPOGRAPHIC_QUOTE = re.compile(r"[\u2018\u2019]")
# Elements whose text is code (a listing, an included output), where a backtick may stand.
CODE_CLASSES = {"fragment", "line", "code"}
MATH_ERRORS = ("Math Processing Error", "File failed to load", "Math input error")

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions",
    # No network: every host name fails to resolve (the local HTTP server is a literal address).
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    # Let MathJax finish: virtual time runs its timers without waiting for the wall clock.
    "--virtual-time-budget=30000",
]


def tutorial_pages(docs_dir):
    """index.html and one page per label of docs/*.md ({#label} on the first heading)."""
    pages = ["index.html"]
    for name in sorted(os.listdir(docs_dir)):
        if name.endswith(".md"):
            with open(os.path.join(docs_dir, name), encoding="utf-8") as f:
                match = re.search(r"\{#(\w+)\}", f.readline())
            if match:
                pages.append(match.group(1) + ".html")
    return pages


class Dom(html.parser.HTMLParser):
    """The rendered page's visible text, and what it links to and shows."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.text = []      # text outside script/style
        self.prose = []     # the part of it outside code (code, pre, a listing's fragment)
        self.code = []      # the part inside code
        self.links = []     # href of <a>
        self.images = []    # src of <img>, data of <object>, src of <iframe>
        self.ids = set()
        self.skip = 0       # depth inside script/style
        self.stack = []     # (tag, whether it is code or inside code) of the open elements

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name"):
            if attrs.get(key):
                self.ids.add(attrs[key])
        if tag in ("script", "style"):
            self.skip += 1
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag == "img" and "src" in attrs:
            self.images.append(attrs["src"])
        if tag == "object" and "data" in attrs:
            self.images.append(attrs["data"])
        if tag == "iframe" and "src" in attrs:
            self.images.append(attrs["src"])
        if tag not in ("br", "img", "meta", "link", "input", "hr", "area", "col"):
            code = (tag in ("code", "pre", "tt") or
                    bool(CODE_CLASSES & set((attrs.get("class") or "").split())) or
                    bool(self.stack and self.stack[-1][1]))
            self.stack.append((tag, code))

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self.skip:
            self.skip -= 1
        if any(open_tag == tag for open_tag, _ in self.stack):
            while self.stack and self.stack.pop()[0] != tag:
                pass

    def handle_data(self, data):
        if not self.skip and data.strip():
            self.text.append(data)
            (self.code if self.stack and self.stack[-1][1] else self.prose).append(data)


def render(url, profile):
    """The DOM of `url` after its scripts ran, as Chromium dumps it."""
    result = subprocess.run(
        ["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
        capture_output=True, text=True, timeout=180)
    if result.returncode != 0 or "<html" not in result.stdout:
        raise RuntimeError(f"chromium failed on {url} ({result.returncode}): "
                           f"{result.stderr.strip()[-500:]}")
    return result.stdout


def parsed(path):
    """A static file of the site, parsed."""
    parser = Dom()
    with open(path, encoding="utf-8", errors="replace") as f:
        parser.feed(f.read())
    return parser


@functools.lru_cache(maxsize=None)
def ids_in(path):
    """The id and name attributes of a static file of the site."""
    return frozenset(parsed(path).ids)


def excerpt(text, match):
    """What surrounds a match in the text, to show it in a problem."""
    at = max(0, match.start() - 40)
    return f"...{text[at:match.end() + 40].strip()}..."


def local_target(site, page, reference):
    """(path, fragment) of a reference to the site itself, None for the web, or an error."""
    parsed = urllib.parse.urlsplit(reference)
    if parsed.scheme in ("http", "https", "mailto", "javascript", "data"):
        return None
    if parsed.scheme == "file" or reference.startswith("/"):
        return f"'{reference}' is an absolute path: the site must work from any folder"
    if parsed.scheme:
        return None
    target = page if not parsed.path else os.path.normpath(
        os.path.join(os.path.dirname(page), urllib.parse.unquote(parsed.path)))
    if not os.path.abspath(target).startswith(os.path.abspath(site) + os.sep):
        return f"'{reference}' points outside the site"
    return target, urllib.parse.unquote(parsed.fragment)


def check_page(site, page, dom):
    """The problems of one rendered page."""
    parser = Dom()
    parser.feed(dom)
    problems = []
    for text in parser.text:
        match = RAW_TEX.search(text)
        if match:
            problems.append(f"raw TeX {match.group(0)!r} in the rendered text: "
                            f"{excerpt(text, match)}")
        for error in MATH_ERRORS:
            if error in text:
                problems.append(f"MathJax: '{error}'")
    path = os.path.join(site, page)
    for kind, references in (("image", parser.images), ("link", parser.links)):
        for reference in sorted(set(references)):
            target = local_target(site, path, reference)
            if target is None:
                continue
            if isinstance(target, str):
                problems.append(f"{kind} {target}")
                continue
            file, fragment = target
            if not os.path.isfile(file) or os.path.getsize(file) == 0:
                problems.append(f"broken {kind} '{reference}': no such file in the site")
            elif kind == "image" and file.endswith(".svg"):
                with open(file, encoding="utf-8", errors="replace") as f:
                    if "<svg" not in f.read(4096):
                        problems.append(f"broken image '{reference}': not an SVG picture")
            elif fragment and file.endswith(".html"):
                ids = parser.ids if file == path else ids_in(file)
                if fragment not in ids:
                    problems.append(f"broken link '{reference}': no anchor '{fragment}'")
    return problems


def stray_code_spans(path):
    """The code spans of a static page of the site that Doxygen typeset as quotations."""
    parser = parsed(path)
    problems = []
    for where, texts, pattern in (("text", parser.prose, STRAY_CODE_SPAN),
                                  ("code", parser.code, TYPOGRAPHIC_QUOTE)):
        for text in texts:
            match = pattern.search(text)
            if match:
                problems.append(f"a code span typeset as a quotation ({match.group(0)!r} in the "
                                f"{where}): {excerpt(text, match)}")
    return problems


def unreachable(site, pages):
    """The pages that no chain of links in the pages' text leads to from index.html.

    Only the <a href> of the HTML count, not the navigation tree that scripts draw, so a tutorial
    page must be linked from the index or from a page the index links."""
    seen, todo = {"index.html"}, ["index.html"]
    while todo:
        for reference in parsed(os.path.join(site, todo.pop())).links:
            url = urllib.parse.urlsplit(reference)
            if url.scheme or not url.path.endswith(".html") or "/" in url.path:
                continue
            target = urllib.parse.unquote(url.path)
            if target not in seen and os.path.isfile(os.path.join(site, target)):
                seen.add(target)
                todo.append(target)
    return [page for page in pages if page not in seen]


def static_problems(site, pages):
    """What reading the files of the site finds, without a browser: code spans typeset as
    quotations on any page, and tutorial pages the index does not lead to."""
    problems = []
    for name in sorted(os.listdir(site)):
        if name.endswith(".html"):
            problems += [f"{name}: {problem}"
                         for problem in stray_code_spans(os.path.join(site, name))]
    problems += [f"{page}: not reachable from index.html by following links"
                 for page in unreachable(site, pages)]
    return problems


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    built, docs = sys.argv[1], sys.argv[2]
    pages = tutorial_pages(docs) + API_SAMPLE
    static = static_problems(built, tutorial_pages(docs))
    for problem in static:
        print(f"FAIL {problem}")
    with tempfile.TemporaryDirectory(prefix="backprop-site-") as scratch:
        site = os.path.join(scratch, "copied-site")
        shutil.copytree(built, site)  # a copy in another folder: no path may lead back
        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

        handler = functools.partial(Quiet, directory=site)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        failures = 0
        runs = [(page, "file://" + os.path.join(site, page)) for page in pages]
        runs += [(page, base + page) for page in HTTP_SAMPLE]
        try:
            for page, url in runs:
                how = "http" if url.startswith("http") else "disk"
                if not os.path.isfile(os.path.join(site, page)):
                    problems = ["the page is not in the site"]
                else:
                    profile = tempfile.mkdtemp(dir=scratch)  # a fresh profile every time
                    problems = check_page(site, page, render(url, profile))
                failures += bool(problems)
                print(f"{'ok  ' if not problems else 'FAIL'} {how:4} {page}")
                for problem in problems[:10]:
                    print(f"       {problem}")
                if len(problems) > 10:
                    print(f"       ... and {len(problems) - 10} more")
        finally:
            server.shutdown()
    print(f"{len(runs) - failures} of {len(runs)} renderings pass; "
          f"{len(static)} problems in the files of the site")
    return 1 if failures or static else 0


if __name__ == "__main__":
    sys.exit(main())

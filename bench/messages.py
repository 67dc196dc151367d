"""Personalised messages per second: one template build, then complete RFC 5322 bytes for N
subscribers, without DKIM, with Ed25519 and with RSA-2048 (both signed in-process).

    .venv/bin/python bench/messages.py [--count 10000] [--rsa-count 2000] [--json]

A 10-review issue from bench/gen_reviews.py is rendered once with digest.render_digest (MJML
compile timed too), then mail.MessageTemplate splices each subscriber in. For comparison it also
times what the splice replaces: the email package building each message, and dkimpy's own
dkim.sign (which canonicalises the whole body with regular expressions for every message).
Keys are generated with openssl into a temporary directory. Target: >= 20,000 messages/s.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from email import message_from_bytes, policy
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import dkim  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from gen_reviews import generate  # noqa: E402

from publisher.config import load_config  # noqa: E402
from publisher.models import Issue, Subscriber  # noqa: E402
from publisher.render import digest as digest_module  # noqa: E402
from publisher.render import message as mail  # noqa: E402
from publisher.render.dkim import DkimSigner  # noqa: E402
from publisher.render.sender import Sender  # noqa: E402
from publisher.render.site import Site  # noqa: E402
from publisher.sources import load_reviews  # noqa: E402

SECRET = "bench-secret"


def subscribers(n: int) -> list[Subscriber]:
    names = ["Zoë Ångström", "Ann O'Neil", "Björn \"BB\" Borg", "陈小明", "Sam Smith", ""]
    return [Subscriber(f"reader{i}@example{i % 13}.org", f"{names[i % len(names)]} {i}".strip(),
                       id=i + 1) for i in range(n)]


def rate(fn, items) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    """(messages per second, total bytes) for fn over items, consumed fully."""
    start = time.perf_counter()
    total = 0
    count = 0
    for message in fn(items):
        total += len(message)
        count += 1
    return count / (time.perf_counter() - start), total


def with_dkim(config, key: Path):  # type: ignore[no-untyped-def]
    import dataclasses

    dkim_settings = dataclasses.replace(config.dkim, key_file=str(key), selector="bench",
                                        domain="bench.example.org")
    return dataclasses.replace(config, dkim=dkim_settings)


def email_package_message(config, sender, d, s: Subscriber, secret: str) -> bytes:  # type: ignore
    """What the splice replaces: one message built by the email package per subscriber."""
    values = {"email": s.email, "name": s.name,
              "unsubscribe_url": sender.unsubscribe_url(secret, s.email)}
    page, text = digest_module.personalise(d, values)
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = Address(config.title, addr_spec=config.newsletter.from_address)
    msg["To"] = Address(s.name, addr_spec=s.email)
    msg["Subject"] = d.subject
    msg["List-Unsubscribe"] = f"<{values['unsubscribe_url']}>"
    msg.set_content(text, cte="quoted-printable")
    msg.add_alternative(page, subtype="html", cte="quoted-printable")
    return msg.as_bytes()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rsa-count", type=int, default=2_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv[1:])
    results: dict[str, object] = {"cores": os.cpu_count()}

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pub = root / "pub"
        generate(12, pub)
        with (pub / "publisher.toml").open("a", encoding="utf-8") as fh:
            fh.write('\n[newsletter]\nfrom_address = "news@bench.example.org"\n'
                     'reply_to = "editor@bench.example.org"\n'
                     'bounce_address = "bounces@bench.example.org"\n'
                     'postal_address = "Bench Reel, 1 Film Street, Bristol"\n')
        config = load_config(directory=pub)
        site, sender = Site.from_config(config), Sender.from_config(config)
        reviews = [r for r in load_reviews(config, cache=False).reviews if not r.draft][:10]
        issue = Issue(1, digest_module.compose_subject(site, 1, reviews), reviews[-1].date,
                      tuple(reviews))

        times = []
        for _ in range(5):
            start = time.perf_counter()
            d = digest_module.render_digest(issue, site)
            times.append(time.perf_counter() - start)
        results["digest_render_first_ms"] = round(times[0] * 1000, 1)
        results["digest_render_median_ms"] = round(statistics.median(times) * 1000, 1)
        results["html_bytes"] = len(d.html.encode())
        results["longest_html_line"] = max(len(line) for line in d.html.splitlines())

        times = []
        for _ in range(5):
            start = time.perf_counter()
            template = mail.MessageTemplate.from_digest(d, sender, secret=SECRET,
                                                        date=issue.date, signer=None)
            times.append(time.perf_counter() - start)
        results["template_build_ms"] = round(statistics.median(times) * 1000, 1)

        people = subscribers(args.count)
        per_second, total = rate(template.render_many, people)
        results["plain_messages_per_s"] = round(per_second)
        results["plain_mean_message_bytes"] = round(total / len(people))
        sample = template.render(people[3])
        assert message_from_bytes(sample, policy=policy.default).get_body(("html",)) is not None
        assert max(len(line) for line in sample.split(b"\r\n")) <= 998

        few = people[:300]
        start = time.perf_counter()
        for s in few:
            email_package_message(config, sender, d, s, SECRET)
        results["email_package_messages_per_s"] = round(len(few) / (time.perf_counter() - start))

        keys = root / "keys"
        keys.mkdir()
        for kind, algorithm in (("rsa", "RSA"), ("ed25519", "ed25519")):
            extra = ["-pkeyopt", "rsa_keygen_bits:2048"] if kind == "rsa" else []
            subprocess.run(["openssl", "genpkey", "-algorithm", algorithm, *extra,
                            "-out", str(keys / f"{kind}.pem")], check=True, capture_output=True)

        ed_signer = DkimSigner.from_config(with_dkim(config, keys / "ed25519.pem"))
        ed = mail.MessageTemplate.from_digest(d, sender, secret=SECRET, date=issue.date,
                                              signer=ed_signer)
        per_second, _ = rate(ed.render_many, people)
        results["ed25519_messages_per_s"] = round(per_second)

        rsa_signer = DkimSigner.from_config(with_dkim(config, keys / "rsa.pem"))
        rsa = mail.MessageTemplate.from_digest(d, sender, secret=SECRET, date=issue.date,
                                               signer=rsa_signer)
        per_second, _ = rate(rsa.render_many, people[:args.rsa_count])
        results["rsa_messages_per_s"] = round(per_second)

        unsigned = template.render(people[0])
        for kind, key, algorithm in (
            ("rsa", (keys / "rsa.pem").read_bytes(), b"rsa-sha256"),
            ("ed25519", None, b"ed25519-sha256"),
        ):
            if key is None:  # dkimpy takes an Ed25519 key as its base64 seed
                key = base64.b64encode(ed_signer.key.private_bytes(  # type: ignore[union-attr]
                    serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                    serialization.NoEncryption()))
            start = time.perf_counter()
            for _ in range(30):
                dkim.sign(unsigned, b"bench", b"bench.example.org", key,
                          canonicalize=(b"relaxed", b"relaxed"), signature_algorithm=algorithm,
                          include_headers=[b"from", b"to", b"subject"])
            results[f"dkimpy_sign_{kind}_ms"] = round((time.perf_counter() - start) / 30 * 1000,
                                                      2)

    if args.json:
        print(json.dumps(results, indent=2))
    else:
        width = max(map(len, results))
        for key, value in results.items():
            print(f"{key:<{width}}  {value:>10,}" if isinstance(value, int | float)
                  else f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

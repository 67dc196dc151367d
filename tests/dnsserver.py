"""A real DNS server for tests: UDP on 127.0.0.1 and a free port, answering TXT queries from a
dict (NXDOMAIN for any other name), built on dnspython's wire format.

    with DnsServer({"s._domainkey.reel.test.": ["v=DKIM1; k=rsa; p=..."]}) as dns_server:
        resolver = dns_server.resolver()      # a dnspython Resolver that asks only this server
"""

from __future__ import annotations

import socket
import threading

import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import dns.rrset


def _chunks(text: str) -> list[str]:
    """A TXT value as DNS carries it: strings of at most 255 bytes."""
    return [text[i:i + 255] for i in range(0, len(text), 255)] or [""]


class DnsServer:
    """Answers TXT queries for the names in ``records`` (absolute, ending in ".")."""

    def __init__(self, records: dict[str, list[str]]):
        self.records = records
        self.queries: list[str] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> DnsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def resolver(self) -> dns.resolver.Resolver:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = ["127.0.0.1"]
        resolver.port = self.port
        return resolver

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            query = dns.message.from_wire(data)
            response = dns.message.make_response(query)
            question = query.question[0]
            name = question.name.to_text()
            self.queries.append(name)
            values = self.records.get(name)
            if values is None:
                response.set_rcode(dns.rcode.NXDOMAIN)
            elif question.rdtype == dns.rdatatype.TXT:
                texts = [" ".join(f'"{c}"' for c in _chunks(v)) for v in values]
                response.answer.append(dns.rrset.from_text_list(
                    question.name, 300, dns.rdataclass.IN, dns.rdatatype.TXT, texts))
            self._sock.sendto(response.to_wire(), peer)

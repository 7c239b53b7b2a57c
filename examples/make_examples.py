"""Writes the sample node tree `examples/var/log` and prints its record counts.

Run `python examples/make_examples.py` after changing it, then paste the printed
table into `examples/README.md`. The output is deterministic: ids and uids are
hashes of names, times come from a clock that only moves by the given steps.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

PARTIAL_BYTES = 16 * 1024  # containerd's MaxContainerLogLineSize and Docker's copier buffer
EXAMPLES = Path(__file__).resolve().parent


class Clock:
    """Times as container runtimes write them: Go's RFC3339Nano, trailing zeros trimmed.

    The fraction width varies from line to line (0 to 9 digits) as it does on a node.
    """

    _WIDTHS = (9, 7, 9, 6, 3, 9, 8, 1, 9, 0, 5, 9, 4)

    def __init__(self, start: str, utc_offset_hours: int = 0) -> None:
        self._ns = int(datetime.fromisoformat(start).timestamp()) * 10**9
        self._zone = timezone(timedelta(hours=utc_offset_hours))
        self._count = 0

    def next(self, step_ms: float) -> str:
        """The time `step_ms` (plus a sub-millisecond jitter) after the previous one."""
        self._count += 1
        jitter = self._count * 7_919_317 % 1_000_000
        quantum = 10 ** (9 - self._WIDTHS[self._count % len(self._WIDTHS)])
        ns = self._ns + int(step_ms * 1_000_000) + jitter
        self._ns = -(-ns // quantum) * quantum  # rounded up, so times never go back
        seconds, fraction = divmod(self._ns, 10**9)
        wall = datetime.fromtimestamp(seconds, self._zone).strftime("%Y-%m-%dT%H:%M:%S")
        digits = f".{fraction:09d}".rstrip("0") if fraction else ""
        zone = "Z" if self._zone.utcoffset(None) == timedelta(0) else wall_offset(self._zone)
        return f"{wall}{digits}{zone}"


def wall_offset(zone: timezone) -> str:
    """`+02:00` for a zone two hours east of UTC."""
    minutes = int(zone.utcoffset(None).total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def container_id(*names: str) -> str:
    """A stable 64-hex container id for these names."""
    return hashlib.sha256("/".join(names).encode()).hexdigest()


def pod_uid(namespace: str, pod: str) -> str:
    """A stable UUID-shaped pod uid."""
    digest = hashlib.sha256(f"{namespace}/{pod}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


@dataclass
class LogFile:
    """One file under `var/log/pods`, built record by record.

    `records` is what a correct agent makes of the file: CRI `P` fragments are joined
    per stream up to the next `F`, Docker chunks up to the one ending in a newline, and
    a group still open at the end of the file counts once (it is flushed as it is).
    """

    namespace: str
    pod: str
    container: str
    name: str
    fmt: str  # "cri" | "docker"
    clock: Clock
    about: str
    compressed: bool = False
    lines: list[bytes] = field(default_factory=list)
    closed: int = 0
    open_streams: set[str] = field(default_factory=set)

    @property
    def rel_path(self) -> str:
        pod_dir = f"{self.namespace}_{self.pod}_{pod_uid(self.namespace, self.pod)}"
        return f"var/log/pods/{pod_dir}/{self.container}/{self.name}"

    @property
    def records(self) -> int:
        return 0 if self.compressed else self.closed + len(self.open_streams)

    def log(self, stream: str, text: str, step_ms: float = 250) -> None:
        """One record as the runtime writes it: cut into 16 KiB pieces when longer."""
        data = text.encode()
        if self.fmt == "docker":
            data += b"\n"
        pieces = [data[i : i + PARTIAL_BYTES] for i in range(0, len(data), PARTIAL_BYTES)] or [b""]
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            self.line(stream, piece, "F" if last else "P", step_ms if i == 0 else 0.02)

    def line(self, stream: str, content: bytes, tag: str = "F", step_ms: float = 1) -> None:
        """One raw line; `tag` is the CRI tag (a Docker chunk is partial without `\\n`)."""
        time = self.clock.next(step_ms)
        if self.fmt == "cri":
            self.lines.append(
                b"%s %s %s %s\n" % (time.encode(), stream.encode(), tag.encode(), content)
            )
            complete = tag == "F"
        else:
            self.lines.append(docker_line(content.decode(), stream, time))
            complete = content.endswith(b"\n")
        if complete:
            self.closed += 1
            self.open_streams.discard(stream)
        else:
            self.open_streams.add(stream)

    def content(self) -> bytes:
        data = b"".join(self.lines)
        return gzip.compress(data, mtime=0) if self.compressed else data


def docker_line(log: str, stream: str, time: str) -> bytes:
    """A json-file line as Docker writes it: compact, UTF-8, with `<`, `>`, `&` escaped."""
    doc = {"log": log, "stream": stream, "time": time}
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    for char in "<>&":
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text.encode() + b"\n"


def nginx() -> LogFile:
    f = LogFile(
        "default",
        "web-7d9c5b6f4-x2kqp",
        "nginx",
        "0.log",
        "cri",
        Clock("2024-05-01T11:58:02+00:00"),
        "CRI; nginx start-up on stderr, access log on stdout (quotes, nginx's own `\\xE6` "
        "escapes); first container of a two-container pod",
    )
    for text in (
        "/docker-entrypoint.sh: /docker-entrypoint.d/ is not empty, will attempt to perform "
        "configuration",
        "/docker-entrypoint.sh: Looking for shell scripts in /docker-entrypoint.d/",
        "/docker-entrypoint.sh: Configuration complete; ready for start up",
        '2024/05/01 11:58:02 [notice] 1#1: using the "epoll" event method',
        "2024/05/01 11:58:02 [notice] 1#1: nginx/1.27.0",
        "2024/05/01 11:58:02 [notice] 1#1: start worker processes",
    ):
        f.log("stderr", text, 3)
    firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
    for second, client, request, status, size, referer, agent in (
        (4, "10.244.0.1", "GET /healthz", 200, 2, "-", "kube-probe/1.30"),
        (6, "10.244.1.17", "GET /menu/caf%C3%A9", 200, 5120, "https://shop.example.com/", firefox),
        (
            8,
            "10.244.1.17",
            "GET /search?q=\\xE6\\x9D\\xB1\\xE4\\xBA\\xAC",
            200,
            812,
            "-",
            "curl/8.5.0",
        ),
        (10, "10.244.1.17", "POST /api/orders", 201, 64, "https://shop.example.com/cart", firefox),
        (12, "10.244.0.1", "GET /healthz", 200, 2, "-", "kube-probe/1.30"),
    ):
        f.log(
            "stdout",
            f'{client} - - [01/May/2024:11:58:{second:02d} +0000] "{request} HTTP/1.1" {status} '
            f'{size} "{referer}" "{agent}"',
            2000,
        )
    f.log(
        "stderr",
        "2024/05/01 11:58:22 [error] 29#29: *15 upstream timed out (110: Connection timed out) "
        "while reading response header from upstream, client: 10.244.1.17, server: _, request: "
        '"GET /api/orders/A-1042 HTTP/1.1", upstream: "http://10.96.0.42:8080/api/orders/A-1042", '
        'host: "shop.example.com"',
        9000,
    )
    f.log(
        "stdout",
        '10.244.1.17 - - [01/May/2024:11:58:22 +0000] "GET /api/orders/A-1042 HTTP/1.1" 504 167 '
        '"-" "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"',
        1,
    )
    return f


def metrics_exporter() -> LogFile:
    f = LogFile(
        "default",
        "web-7d9c5b6f4-x2kqp",
        "metrics-exporter",
        "0.log",
        "cri",
        Clock("2024-05-01T11:58:03+00:00", utc_offset_hours=2),
        "CRI with `+02:00` times (the runtime's local zone); logfmt; second container of the "
        "pod, dashed name",
    )
    f.log(
        "stdout",
        "ts=2024-05-01T13:58:02.998+02:00 caller=main.go:63 level=info "
        'msg="Starting nginx-prometheus-exporter" version=1.1.0',
        1,
    )
    f.log(
        "stdout",
        "ts=2024-05-01T13:58:03.001+02:00 caller=main.go:142 level=info "
        'msg="Listening on address" address=[::]:9113',
        1,
    )
    f.log(
        "stderr",
        "ts=2024-05-01T13:58:04.390+02:00 caller=nginx.go:51 level=warn "
        'msg="could not scrape nginx" err="Get \\"http://127.0.0.1:8080/stub_status\\": '
        'dial tcp 127.0.0.1:8080: connect: connection refused"',
        1389,
    )
    f.log(
        "stdout",
        "ts=2024-05-01T13:58:18.893+02:00 caller=nginx.go:62 level=info "
        'msg="scrape ok" duration_seconds=0.0042',
        14500,
    )
    return f


SPRING_BANNER = (
    "",
    "  .   ____          _            __ _ _",
    " /\\\\ / ___'_ __ _ _(_)_ __  __ _ \\ \\ \\ \\",
    "( ( )\\___ | '_ | '_| | '_ \\/ _` | \\ \\ \\ \\",
    " \\\\/  ___)| |_)| | | | | || (_| |  ) ) ) )",
    "  '  |____| .__|_| |_|_| |_\\__, | / / / /",
    " =========|_|==============|___/=/_/_/_/",
    "",
    " :: Spring Boot ::                (v3.2.5)",
    "",
)


def spring(at: str, level: str, logger: str, message: str) -> str:
    """A Spring Boot console line: the app prints its own time (`at`, UTC) and thread."""
    thread = "[orders-api] [           main]"
    return f"2024-05-01T{at}Z {level:>5} 1 --- {thread} {logger:<40} : {message}"


def orders_api_crash() -> LogFile:
    f = LogFile(
        "default",
        "orders-api-5f8b9c7d6-qwz8r",
        "orders-api",
        "0.log",
        "cri",
        Clock("2024-05-01T11:59:39+00:00"),
        "CRI; restart 0 of a Java service: banner with backslashes and empty lines, then a "
        "stack trace (tab-indented `at` frames, two `Caused by:`), one record per line",
    )
    for text in SPRING_BANNER:
        f.log("stdout", text, 0.3)
    times = ("11:59:39.118", "11:59:39.241", "11:59:39.362", "11:59:39.480", "11:59:39.601")
    for at, (level, logger, message) in zip(
        (*times, "11:59:39.722"),
        (
            (
                "INFO",
                "c.e.orders.OrdersApplication",
                "Starting OrdersApplication v2.3.1 using Java "
                "21.0.3 with PID 1 (/app/orders-api.jar started by app in /app)",
            ),
            ("INFO", "c.e.orders.OrdersApplication", 'The following 1 profile is active: "prod"'),
            (
                "INFO",
                "o.s.b.w.embedded.tomcat.TomcatWebServer",
                "Tomcat initialized with port 8080 (http)",
            ),
            ("INFO", "com.zaxxer.hikari.HikariDataSource", "HikariPool-1 - Starting..."),
            (
                "WARN",
                "o.h.e.j.e.i.JdbcEnvironmentInitiator",
                "HHH000342: Could not obtain connection to query metadata",
            ),
            ("ERROR", "o.s.boot.SpringApplication", "Application run failed"),
        ),
        strict=True,
    ):
        f.log("stdout", spring(at, level, logger, message), 120)
    trace = (
        "org.springframework.beans.factory.BeanCreationException: Error creating bean with name "
        "'entityManagerFactory' defined in class path resource [org/springframework/boot/"
        "autoconfigure/orm/jpa/HibernateJpaConfiguration.class]: Unable to open JDBC Connection "
        "for DDL execution",
        "\tat org.springframework.beans.factory.support.AbstractAutowireCapableBeanFactory."
        "initializeBean(AbstractAutowireCapableBeanFactory.java:1786)",
        "\tat org.springframework.beans.factory.support.AbstractAutowireCapableBeanFactory."
        "doCreateBean(AbstractAutowireCapableBeanFactory.java:600)",
        "\tat org.springframework.beans.factory.support.AbstractBeanFactory.getBean("
        "AbstractBeanFactory.java:200)",
        "\tat org.springframework.boot.SpringApplication.run(SpringApplication.java:334)",
        "\tat com.example.orders.OrdersApplication.main(OrdersApplication.java:12)",
        "Caused by: org.postgresql.util.PSQLException: Connection to "
        "orders-db.payments.svc.cluster.local:5432 refused. Check that the hostname and port are "
        "correct and that the postmaster is accepting TCP/IP connections.",
        "\tat org.postgresql.core.v3.ConnectionFactoryImpl.openConnectionImpl("
        "ConnectionFactoryImpl.java:346)",
        "\tat org.postgresql.jdbc.PgConnection.<init>(PgConnection.java:263)",
        "\t... 38 common frames omitted",
        "Caused by: java.net.ConnectException: Connection refused",
        "\tat java.base/sun.nio.ch.Net.pollConnect(Native Method)",
        "\tat java.base/sun.nio.ch.Net.pollConnectNow(Net.java:682)",
        "\t... 52 common frames omitted",
    )
    for text in trace:
        f.log("stdout", text, 0.05)
    return f


def orders_api_restarted() -> LogFile:
    f = LogFile(
        "default",
        "orders-api-5f8b9c7d6-qwz8r",
        "orders-api",
        "1.log",
        "cri",
        Clock("2024-05-01T12:00:21+00:00"),
        "CRI; restart 1 of the same container (a new container id, its own link); accents, "
        "CJK and emoji in messages",
    )
    times = ("12:00:21.899", "12:00:22.801", "12:00:23.702", "12:00:24.600", "12:00:25.501")
    for at, (level, logger, message) in zip(
        (*times, "12:00:26.402"),
        (
            (
                "INFO",
                "c.e.orders.OrdersApplication",
                "Starting OrdersApplication v2.3.1 using Java "
                "21.0.3 with PID 1 (/app/orders-api.jar started by app in /app)",
            ),
            ("INFO", "com.zaxxer.hikari.HikariDataSource", "HikariPool-1 - Start completed."),
            (
                "INFO",
                "c.e.orders.OrdersApplication",
                "Started OrdersApplication in 6.42 seconds (process running for 7.1)",
            ),
            (
                "INFO",
                "c.e.orders.OrderController",
                "Bestellung A-1043 angelegt für Zoë Ångström (München), Summe 42,50 €",
            ),
            ("INFO", "c.e.orders.OrderController", "注文 A-1044 を受け付けました 🛒 (合計 ¥5,980)"),
            (
                "WARN",
                "c.e.orders.PaymentClient",
                "Paiement refusé pour la commande A-1045 : carte expirée ❌",
            ),
        ),
        strict=True,
    ):
        f.log("stdout", spring(at, level, logger, message), 900)
    return f


def coredns_files() -> list[LogFile]:
    about = "CRI; CoreDNS query log"
    queries = (
        ("10.244.0.5:51234", 4242, "A", "orders-api.default.svc.cluster.local.", "NOERROR"),
        ("10.244.1.17:40022", 17, "AAAA", "orders-api.default.svc.cluster.local.", "NOERROR"),
        ("10.244.1.9:37810", 5512, "A", "orders-db.payments.svc.cluster.local.", "NOERROR"),
        ("10.244.1.9:37810", 5513, "A", "ledger.payments.svc.cluster.local.", "NXDOMAIN"),
        ("10.244.0.7:55901", 801, "A", "api.stripe.com.", "NOERROR"),
        ("10.244.0.7:55902", 802, "AAAA", "api.stripe.com.", "NOERROR"),
    )

    def query(client: str, qid: int, qtype: str, name: str, rcode: str) -> str:
        return (
            f'[INFO] {client} - {qid} "{qtype} IN {name} udp 60 false 512" {rcode} '
            f"qr,aa,rd 118 0.000{qid % 900 + 100}s"
        )

    old = LogFile(
        "kube-system",
        "coredns-76f75df574-9xk2m",
        "coredns",
        "0.log.20240501-100000.gz",
        "cri",
        Clock("2024-05-01T09:41:10+00:00"),
        "kubelet's gzipped older rotation: never read",
        compressed=True,
    )
    for text in (
        ".:53",
        "[INFO] plugin/reload: Running configuration SHA512 = 591cf328cccc12b",
        "CoreDNS-1.11.1",
        "linux/amd64, go1.20.7, ae2bbc2",
    ):
        old.log("stdout", text, 2)
    for q in queries[:3]:
        old.log("stdout", query(*q), 61_000)

    rotated = LogFile(
        "kube-system",
        "coredns-76f75df574-9xk2m",
        "coredns",
        "0.log.20240501-120000",
        "cri",
        Clock("2024-05-01T11:59:21+00:00"),
        f"{about}: the latest rotated file, renamed at 12:00:00 and still readable",
    )
    for q in queries:
        rotated.log("stdout", query(*q), 5_300)
    rotated.log(
        "stdout",
        "[WARNING] plugin/kubernetes: Kubernetes API connection failure: Get "
        '"https://10.96.0.1:443/version": dial tcp 10.96.0.1:443: i/o timeout',
        900,
    )

    current = LogFile(
        "kube-system",
        "coredns-76f75df574-9xk2m",
        "coredns",
        "0.log",
        "cri",
        Clock("2024-05-01T12:00:00+00:00"),
        f"{about}: the current file, created by the rotation",
    )
    for q in queries[2:]:
        current.log("stdout", query(*q), 4_100)
    current.log(
        "stdout",
        "[ERROR] plugin/errors: 2 ledger.v2.payments.svc.cluster.local. A: "
        "read udp 10.244.0.3:48812->10.96.0.10:53: i/o timeout",
        700,
    )
    return [old, rotated, current]


def kube_proxy() -> LogFile:
    f = LogFile(
        "kube-system",
        "kube-proxy-7hx4k",
        "kube-proxy",
        "0.log",
        "docker",
        Clock("2024-05-01T11:57:58+00:00"),
        "Docker json-file; klog lines on stderr with quotes, a multi-line `err=<` block",
    )
    for text in (
        'I0501 11:57:58.038456       1 server_others.go:72] "Using iptables proxy"',
        'I0501 11:57:58.080211       1 server.go:652] "Version info" version="v1.30.1"',
        'I0501 11:57:58.121002       1 conntrack.go:58] "Setting nf_conntrack_max" '
        "nfConntrackMax=131072",
        'I0501 11:57:58.160551       1 config.go:192] "Starting service config controller"',
        "I0501 11:57:58.200600       1 shared_informer.go:313] Waiting for caches to sync for "
        "service config",
        "I0501 11:57:58.241002       1 shared_informer.go:320] Caches are synced for service "
        "config",
        'E0501 11:57:58.281234       1 proxier.go:1564] "Failed to execute iptables-restore" err=<',
        "\texit status 2: iptables-restore v1.8.9 (legacy): Couldn't load target "
        "`KUBE-SVC-ERIFXISQEP7F7OF4':No such file or directory",
        "\tError occurred at line: 42",
        " >",
        'I0501 11:57:59.071301       1 proxier.go:810] "Sync failed" retryingTime="30s"',
    ):
        f.log("stderr", text, 40)
    return f


def _settlement_payload() -> str:
    """A ~40 KiB JSON line whose first 16 KiB cut falls inside the 3-byte `€`."""
    for first in range(10_000, 10_050):
        orders = ",".join(
            f'{{"id":"A-{n:05d}","amount":{n * 37 % 10_000 / 100:.2f},"currency":"€"}}'
            for n in range(first, first + 850)
        )
        text = (
            f'{{"level":"debug","logger":"worker","msg":"settlement payload","orders":[{orders}]}}'
        )
        if text.encode()[PARTIAL_BYTES] & 0xC0 == 0x80:  # a UTF-8 continuation byte
            return text
    raise AssertionError("no payload cuts a character")


def checkout_worker() -> LogFile:
    f = LogFile(
        "payments",
        "checkout-worker-0",
        "worker",
        "0.log",
        "cri",
        Clock("2024-05-01T12:00:01+00:00"),
        "CRI; JSON app logs (and a JSON array, and a broken object); small `P` fragments "
        "(CRI-O style), one group with stdout and stderr fragments interleaved; a Python "
        "traceback on stderr; a ~40 KiB line in three 16 KiB-cut pieces, the first cut "
        "inside `€` (decode after joining)",
    )
    f.log(
        "stdout",
        '{"ts":"2024-05-01T12:00:01.250Z","level":"info","logger":"worker",'
        '"msg":"worker started","queue":"payments.settlements","concurrency":4}',
    )
    f.line("stdout", b"Processing batch 17: ", "P", 500)
    f.line("stdout", "42 items ✅".encode(), "F", 1200)
    f.log(
        "stdout",
        '{"level":"info","logger":"worker","msg":"Zahlung bestätigt für Zoë",'
        '"order":"A-1042","amount":19.99,"currency":"EUR"}',
    )
    f.log(
        "stdout",
        '{"level":"info","logger":"worker","msg":"支付成功 🎉","user":"李雷",'
        '"amount":128.0,"currency":"CNY"}',
    )
    f.log("stdout", '["A-1042","A-1043","A-1044"]')
    f.log("stdout", '{"level":"warning","logger":"worker","msg":"truncated json')
    for stream, tag, text in (
        ("stdout", "P", "progress: settling 3 orders"),
        ("stderr", "P", "WARNING:worker:slow ledger response"),
        ("stdout", "P", " ... 2/3"),
        ("stderr", "F", " (1.8 s) for A-1043"),
        ("stdout", "F", " ... 3/3 done"),
    ):
        f.line(stream, text.encode(), tag, 300)
    for text in (
        "Traceback (most recent call last):",
        '  File "/app/worker/main.py", line 88, in run',
        "    result = settle(batch)",
        "             ^^^^^^^^^^^^^",
        '  File "/app/worker/settle.py", line 41, in settle',
        '    total = sum(item["amount"] for item in batch)',
        "            ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^",
        '  File "/app/worker/settle.py", line 41, in <genexpr>',
        '    total = sum(item["amount"] for item in batch)',
        "                ~~~~^^^^^^^^^^",
        "KeyError: 'amount'",
    ):
        f.log("stderr", text, 0.1)
    f.log(
        "stdout",
        '{"level":"error","logger":"worker","msg":"batch failed, will retry",'
        '"batch":18,"error":"KeyError(\'amount\')"}',
        2,
    )
    f.log("stdout", _settlement_payload(), 5_000)
    f.log(
        "stdout",
        '{"level":"info","logger":"worker","msg":"batch 18 settled","orders":850,'
        '"duration_ms":5123}',
        40,
    )
    return f


def ledger() -> LogFile:
    f = LogFile(
        "payments",
        "ledger.v2-6c9d8f7b5-mn4pt",
        "ledger",
        "0.log",
        "docker",
        Clock("2024-05-01T12:00:00+00:00"),
        "Docker json-file; dotted pod name; JSON app logs with accents, CJK, emoji and "
        "`<>&` (written as `\\u003c`…); a ~35 KiB line in 16 KiB chunks without `\\n`",
    )
    f.log(
        "stdout",
        '{"time":"2024-05-01T12:00:00.412Z","level":"INFO","msg":"ledger started",'
        '"version":"2.4.0","region":"eu-central-1"}',
        412,
    )
    f.log(
        "stdout",
        '{"level":"INFO","msg":"posting entry","entry":"E-7781","debit":"ACC-1",'
        '"credit":"ACC-2","amount":"250.00","memo":"Überweisung an Café Müller ☕"}',
    )
    f.log("stderr", "WARN: certificate for ledger-db expires in 12 days", 30)
    f.log(
        "stdout",
        '{"level":"WARN","msg":"slow query","sql":"SELECT id FROM entries WHERE '
        'amount > 100 AND status <> \'void\' & posted","ms":812}',
        800,
    )
    f.log("stdout", '{"level":"INFO","msg":"对账完成","entries":1280,"status":"✅📒"}', 1500)
    accounts = ",".join(
        f'{{"account":"ACC-{n:05d}","balance":"{n * 7919 % 1_000_000 / 100:.2f}"}}'
        for n in range(1, 821)
    )
    f.log("stdout", f'{{"level":"DEBUG","msg":"balance snapshot","accounts":[{accounts}]}}', 60_000)
    f.log("stdout", '{"level":"INFO","msg":"snapshot written","accounts":820}', 15)
    return f


LONG_POD = (
    "merchant-settlement-report-generator.european-union.card-schemes."
    "chargebacks-and-refunds.nightly-backfill-v2-6f8d9c7b54-q8w2z"
)


def settlement_report() -> LogFile:
    f = LogFile(
        "payments",
        LONG_POD,
        "settlement-report-generator-with-chargeback-reconciliation",
        "0.log",
        "cri",
        Clock("2024-05-01T12:01:00+00:00"),
        "CRI; pod and container names so long that kubelet cut the link name at 255 bytes "
        "(the container id in it is incomplete: names must come from this path)",
    )
    for text in (
        "loading chargebacks for 2024-04-30 (EU card schemes)",
        "reconciled 1,204 chargebacks, 3 unmatched",
        "report written to s3://reports/settlements/2024-04-30.csv",
    ):
        f.log("stdout", text, 1_700)
    return f


def all_files() -> list[LogFile]:
    """Every file of the sample tree, in the order of the README."""
    return [
        nginx(),
        metrics_exporter(),
        orders_api_crash(),
        orders_api_restarted(),
        *coredns_files(),
        kube_proxy(),
        checkout_worker(),
        ledger(),
        settlement_report(),
    ]


def link_name(f: LogFile) -> str:
    """Kubelet's link for the file: `<pod>_<ns>_<container>-<id>`, cut to 251 bytes, `.log`."""
    restart = f.name.split(".")[0]
    cid = container_id(f.namespace, f.pod, f.container, restart)
    return f"{f.pod}_{f.namespace}_{f.container}-{cid}"[:251] + ".log"


def build(root: Path) -> dict[str, int]:
    """Write the tree under `root/var/log`; return the records per file (paths from `root`)."""
    counts: dict[str, int] = {}
    for f in all_files():
        path = root / f.rel_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f.content())
        counts[f.rel_path] = f.records
        if f.name.endswith(".log"):  # kubelet links the current file of each container
            link = root / "var/log/containers" / link_name(f)
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(Path("../pods") / Path(f.rel_path).relative_to("var/log/pods"))
    return counts


def table(counts: dict[str, int]) -> str:
    """The README's table of files and the records a correct agent produces from each."""
    about = {f.rel_path: (f.fmt, f.about) for f in all_files()}
    rows = ["| file | format | records | shows |", "|---|---|---:|---|"]
    rows += [f"| `{p}` | {about[p][0]} | {n} | {about[p][1]} |" for p, n in counts.items()]
    rows.append(f"| **total** | | **{sum(counts.values())}** | |")
    return "\n".join(rows)


def main() -> None:
    shutil.rmtree(EXAMPLES / "var", ignore_errors=True)
    print(table(build(EXAMPLES)))


if __name__ == "__main__":
    main()

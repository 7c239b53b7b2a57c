"""Where documents go, and how Elasticsearch is reached and written to."""

from __future__ import annotations

from shipper.config.derived import elasticsearch as derived
from shipper.config.derived import observe
from shipper.config.parsers import api_key, boolean, choice, existing_file, text
from shipper.config.table.variable import Variable

ELASTICSEARCH = (
    Variable(
        "SHIPPER_OUTPUT",
        "output",
        "`elasticsearch`, `opensearch` (the same sink; says what the cluster is while `GET /` "
        "does not, see Targets), `stdout`, `file:PATH`; unset, `elasticsearch` if hosts are "
        "set, else `stdout`. `PATH` is any writable path: a regular file is fsynced before records "
        "are acknowledged; `/dev/null` (a dry run), `/dev/stdout` or a FIFO take no fsync and "
        "are acknowledged once written. A failed write (`no space left`, too many open "
        "files...) is retried from the first byte not written, like a failed request",
        flag="--output",
        resolve=derived.output_kind,
    ),
    Variable(
        "--once",
        "once",
        "read every file to its end, deliver, exit",
        flag="--once",
        resolve=observe.once,
    ),
    Variable(
        "SHIPPER_ES_HOSTS",
        "es_hosts",
        "comma-separated base URLs; requests spread over them and fail over. Credentials in "
        "them (`https://user:pass@es:9200`, percent-encoded, the same for every host) are "
        "basic auth, as fluent-plugin-elasticsearch takes them; they are taken out of the "
        "URLs and the password is shown as `***` wherever a URL is. The compat names make "
        "one URL: `FLUENT_ELASTICSEARCH_HOST` + `_PORT` (9200) + `_SCHEME` (http) + `_PATH`",
        compat=derived.ES_HOST_PARTS,
        flag="--es",
        resolve=derived.es_hosts,
    ),
    Variable(
        "SHIPPER_ES_USER",
        "es_user",
        "basic auth user, not together with credentials in a URL; spaces and line breaks "
        "around it are dropped",
        compat=("FLUENT_ELASTICSEARCH_USER",),
        resolve=derived.es_user,
    ),
    Variable(
        "SHIPPER_ES_PASSWORD",
        "es_password",
        "basic auth password (with `SHIPPER_ES_USER`); spaces and line breaks around it "
        "are dropped; shown as `***`",
        compat=("FLUENT_ELASTICSEARCH_PASSWORD",),
        secret=True,
        resolve=derived.es_password,
    ),
    Variable(
        "SHIPPER_ES_API_KEY",
        "es_api_key",
        "`Authorization: ApiKey …` (instead of a user); spaces and line breaks around it are "
        "dropped (a Secret made `--from-file` ends in one), one inside is an error; shown "
        "as `***`",
        api_key,
        secret=True,
    ),
    Variable(
        "SHIPPER_ES_CA_FILE",
        "es_ca_file",
        "PEM CA of the cluster; checked at startup",
        existing_file,
    ),
    Variable(
        "SHIPPER_ES_CLIENT_CERT",
        "es_client_cert",
        "PEM client certificate (with `SHIPPER_ES_CLIENT_KEY`); checked at startup",
        existing_file,
    ),
    Variable(
        "SHIPPER_ES_CLIENT_KEY",
        "es_client_key",
        "PEM key of the client certificate; checked at startup",
        existing_file,
    ),
    Variable(
        "SHIPPER_ES_TLS_VERIFY",
        "es_tls_verify",
        "verify the cluster's certificate",
        boolean,
        default="true",
        compat=("FLUENT_ELASTICSEARCH_SSL_VERIFY",),
    ),
    Variable(
        "SHIPPER_ES_INDEX",
        "es_index",
        "strftime on the record's UTC time; `{a.b.c}` inserts a document field (missing: "
        "`unknown`); lower-cased. The compat names make one: `_LOGSTASH_FORMAT` (true) + "
        "`_LOGSTASH_PREFIX` (logstash) + `_LOGSTASH_DATEFORMAT` (%Y.%m.%d), or "
        "`_LOGSTASH_INDEX_NAME` when the format is false",
        default="logstash-%Y.%m.%d",
        compat=derived.LOGSTASH_INDEX,
        resolve=derived.es_index,
    ),
    Variable(
        "SHIPPER_ES_OP_TYPE",
        "es_op_type",
        "`create` (what data streams need; a replay answers 409, counted as delivered) or `index`",
        choice("create", "index"),
        default="create",
    ),
    Variable(
        "SHIPPER_ES_ID",
        "es_id",
        "`auto`: deterministic `_id` per record; `none`: Elasticsearch assigns ids (replays "
        "may then double). Unset with `SHIPPER_ES_AWS_SERVICE=aoss`, `none`: OpenSearch "
        "Serverless time series collections refuse ids of ours (a search collection takes "
        "`auto`)",
        default="auto",
        resolve=derived.es_id,
    ),
    Variable("SHIPPER_ES_PIPELINE", "es_pipeline", "ingest pipeline", text),
    Variable(
        "SHIPPER_ES_COMPRESSION",
        "es_compression",
        "`gzip` compresses request bodies",
        choice("none", "gzip"),
        default="none",
    ),
    Variable(
        "SHIPPER_ES_TEMPLATE",
        "es_template",
        "`install`: put a composable index template for the index pattern at startup "
        "(`@timestamp` date_nanos, `log` text, labels and annotations `flattened`), never "
        "overwriting one changed since unless told; a template file given implies `install`",
        default="none",
        resolve=derived.es_template,
    ),
    Variable(
        "SHIPPER_ES_TEMPLATE_NAME",
        "es_template_name",
        "name of the index template",
        text,
        default="shipper",
        compat=("FLUENT_ELASTICSEARCH_TEMPLATE_NAME",),
    ),
    Variable(
        "SHIPPER_ES_TEMPLATE_FILE",
        "es_template_file",
        "the index template to put instead of shipper's (a composable one)",
        existing_file,
        compat=derived.TEMPLATE_FILE[1:],
    ),
    Variable(
        "SHIPPER_ES_TEMPLATE_OVERWRITE",
        "es_template_overwrite",
        "replace a template someone else changed",
        boolean,
        default="false",
        compat=("FLUENT_ELASTICSEARCH_TEMPLATE_OVERWRITE",),
    ),
)

"""Benign corpus for benchmarks/secret_scan.py: what skills, READMEs and example configs really contain.

Each item is (category, file name, text). Nothing here is a secret: placeholders, variables,
vendor documentation keys, local-development passwords, and values that only look random
(hashes, ids, checksums). ``ember skills install`` must take every one without asking.
"""

from __future__ import annotations

_HAND_WRITTEN: list[tuple[str, str, str]] = [
    # --- README snippets --------------------------------------------------------------------------
    ("readme", "README.md", """## Quick start

```bash
export OPENAI_API_KEY=sk-...
python -m app
```"""),
    ("readme", "README.md", """Call the API with your key:

```bash
curl https://api.openai.com/v1/chat/completions \\
  -H "Content-Type: application/json" \\
  -H "Authorization: Bearer $OPENAI_API_KEY" \\
  -d '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}'
```"""),
    ("readme", "references/api.md", """# Authentication

Every request needs a header:

    Authorization: Bearer <your-token>

Tokens are created on the settings page. Keep them out of version control."""),
    ("readme", "README.md", """```
curl -H "Authorization: Bearer ${TOKEN}" https://api.example.com/v1/items
curl -H "x-api-key: $ANTHROPIC_API_KEY" -H "anthropic-version: 2023-06-01" https://api.anthropic.com/v1/messages
```"""),
    ("readme", "README.md", """Set your key before running:

    ANTHROPIC_API_KEY=sk-ant-api03-...  # from console.anthropic.com
    OPENAI_API_KEY=sk-proj-XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"""),
    ("readme", "docs/setup.md", """### GitHub token

Create a classic token with the `repo` scope and export it:

```sh
export GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
gh auth login --with-token < token.txt
```"""),
    ("readme", "docs/github.md", """Fine-grained tokens start with `github_pat_`, classic ones with `ghp_`.
For example `ghp_16C7e42F292c6912E7710c838347Ae178B4a` is the token GitHub shows in its docs."""),
    ("readme", "README.md", """Configure the Slack bot:

1. Create an app at https://api.slack.com/apps
2. Copy the Bot User OAuth Token (it starts with `xoxb-`)
3. `export SLACK_BOT_TOKEN=xoxb-your-bot-token`"""),
    ("readme", "docs/slack.md", """```python
client = WebClient(token=os.environ["SLACK_BOT_TOKEN"])
# token looks like xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy
```"""),
    ("readme", "docs/stripe.md", """```python
import stripe
stripe.api_key = "sk_test_4eC39HqLyjWDarjtT1zdp7dc"

stripe.PaymentIntent.create(amount=2000, currency="usd")
```"""),
    ("readme", "docs/stripe.md", """Use your secret key (`sk_live_...` in production, `sk_test_...` while testing).
Never put `sk_live_XXXXXXXXXXXXXXXXXXXXXXXX` in client code."""),
    ("readme", "docs/google.md", """Enable the Maps API and set the key:

```js
const map = new google.maps.Map(el, { key: "YOUR_API_KEY" });
// e.g. AIzaSyXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX
```"""),
    ("readme", "docs/hf.md", """Log in to the Hugging Face Hub:

```bash
huggingface-cli login --token $HF_TOKEN
# or: export HF_TOKEN=hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
```"""),
    ("readme", "docs/jwt.md", """A JWT has three parts. The sample token from jwt.io:

    eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c

Send it as `Authorization: Bearer <token>`."""),
    ("readme", "docs/jwt.md", """The header is base64url JSON, for example `eyJhbGciOiJSUzI1NiJ9.eyJ...` (truncated)."""),
    ("readme", "docs/auth.md", """```http
GET /v1/me HTTP/1.1
Host: api.example.com
Authorization: Bearer YOUR_ACCESS_TOKEN
```"""),
    ("readme", "docs/auth.md", """Basic auth: `curl -u username:password https://api.example.com` sends
`Authorization: Basic dXNlcm5hbWU6cGFzc3dvcmQ=`."""),
    ("readme", "README.md", """The default login is `admin` / `admin`. The password is changed on first login.
If you forget it, the admin password is reset by `app reset-admin`."""),
    ("readme", "docs/ssh.md", """Your private key file starts with `-----BEGIN OPENSSH PRIVATE KEY-----` and must be
mode 600. Never share it; share the `.pub` file instead."""),
    ("readme", "docs/tls.md", """Put the key in `tls.key`:

```
-----BEGIN PRIVATE KEY-----
...
-----END PRIVATE KEY-----
```"""),
    ("readme", "docs/tls.md", """```
-----BEGIN RSA PRIVATE KEY-----
<your private key here>
-----END RSA PRIVATE KEY-----
```"""),
    ("readme", "docs/tls.md", """```
-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX
-----END EC PRIVATE KEY-----
```"""),
    # --- AWS documentation --------------------------------------------------------------------------
    ("aws_docs", "references/aws.md", """```
$ aws configure
AWS Access Key ID [None]: AKIAIOSFODNN7EXAMPLE
AWS Secret Access Key [None]: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
Default region name [None]: us-west-2
Default output format [None]: json
```"""),
    ("aws_docs", "references/aws.md", """~/.aws/credentials:

```ini
[default]
aws_access_key_id = AKIAIOSFODNN7EXAMPLE
aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY

[user1]
aws_access_key_id = AKIAI44QH8DHBEXAMPLE
aws_secret_access_key = je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY
```"""),
    ("aws_docs", "references/aws.md", """```bash
export AWS_ACCESS_KEY_ID=AKIAXXXXXXXXXXXXXXXX
export AWS_SECRET_ACCESS_KEY=EXAMPLEKEY
export AWS_DEFAULT_REGION=us-east-1
```"""),
    ("aws_docs", "references/aws.md", """```python
s3 = boto3.client(
    "s3",
    aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
    aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
)
```"""),
    ("aws_docs", "references/aws.md", """{
  "Credentials": {
    "AccessKeyId": "ASIAIOSFODNN7EXAMPLE",
    "SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY",
    "SessionToken": "AQoDYXdzEJr...<remainder of session token>",
    "Expiration": "2024-01-01T00:00:00Z"
  }
}"""),
    # --- .env.example files --------------------------------------------------------------------------
    ("env_example", ".env.example", """# Copy to .env and fill in
OPENAI_API_KEY=
ANTHROPIC_API_KEY=
DATABASE_URL=postgres://postgres:postgres@localhost:5432/app
SECRET_KEY=changeme
DEBUG=true"""),
    ("env_example", ".env.example", """OPENAI_API_KEY=your-openai-api-key
PINECONE_API_KEY=your_pinecone_api_key_here
PINECONE_ENVIRONMENT=us-west1-gcp"""),
    ("env_example", ".env.example", """API_KEY=<your-api-key>
API_SECRET=<your-api-secret>
WEBHOOK_SECRET=whsec_...
REDIS_URL=redis://localhost:6379/0"""),
    ("env_example", ".env.sample", """STRIPE_SECRET_KEY=sk_test_xxxxxxxxxxxxxxxxxxxxxxxx
STRIPE_PUBLISHABLE_KEY=pk_test_xxxxxxxxxxxxxxxxxxxxxxxx
STRIPE_WEBHOOK_SECRET=whsec_xxxxxxxxxxxxxxxxxxxxxxxx"""),
    ("env_example", ".env.example", """# Auth
JWT_SECRET=supersecretkey
JWT_EXPIRES_IN=7d
SESSION_SECRET=keyboard cat
ADMIN_PASSWORD=admin123"""),
    ("env_example", ".env.example", """NEXTAUTH_URL=http://localhost:3000
NEXTAUTH_SECRET=  # generate with: openssl rand -base64 32
GITHUB_ID=
GITHUB_SECRET="""),
    ("env_example", ".env.example", """DB_HOST=localhost
DB_USER=root
DB_PASSWORD=password
DB_NAME=app_dev"""),
    ("env_example", ".env.template", """OPENAI_API_KEY="sk-********************************"
SERPAPI_API_KEY="***"
HUGGINGFACEHUB_API_TOKEN="hf_***"
"""),
    ("env_example", ".env.example", """TWILIO_ACCOUNT_SID=ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
TWILIO_AUTH_TOKEN=your_auth_token
SENDGRID_API_KEY=SG.xxxxxxxx.xxxxxxxx"""),
    ("env_example", ".env.example", """MAIL_PASSWORD=null
MAIL_ENCRYPTION=null
PUSHER_APP_SECRET=
AWS_SECRET_ACCESS_KEY="""),
    ("env_example", ".env.example", """SECRET_KEY=replace-me-with-a-long-random-string
ENCRYPTION_KEY=0000000000000000000000000000000000000000000000000000000000000000"""),
    # --- docker-compose -------------------------------------------------------------------------------
    ("compose", "docker-compose.yml", """services:
  db:
    image: postgres:16
    environment:
      POSTGRES_USER: postgres
      POSTGRES_PASSWORD: postgres
      POSTGRES_DB: app
    ports: ["5432:5432"]"""),
    ("compose", "docker-compose.yml", """services:
  db:
    image: postgres
    environment:
      - POSTGRES_PASSWORD=postgres
  adminer:
    image: adminer
    ports:
      - 8080:8080"""),
    ("compose", "docker-compose.yml", """services:
  mysql:
    image: mysql:8
    environment:
      MYSQL_ROOT_PASSWORD: example
      MYSQL_DATABASE: wordpress
      MYSQL_USER: wordpress
      MYSQL_PASSWORD: wordpress"""),
    ("compose", "docker-compose.yml", """services:
  sql:
    image: mcr.microsoft.com/mssql/server:2022-latest
    environment:
      ACCEPT_EULA: "Y"
      MSSQL_SA_PASSWORD: "yourStrong(!)Password\""""),
    ("compose", "docker-compose.yml", """services:
  minio:
    image: minio/minio
    command: server /data
    environment:
      MINIO_ROOT_USER: minioadmin
      MINIO_ROOT_PASSWORD: minioadmin
  rabbitmq:
    image: rabbitmq:3-management
    environment:
      RABBITMQ_DEFAULT_USER: guest
      RABBITMQ_DEFAULT_PASS: guest"""),
    ("compose", "docker-compose.yml", """services:
  grafana:
    image: grafana/grafana
    environment:
      - GF_SECURITY_ADMIN_PASSWORD=secret
  keycloak:
    image: quay.io/keycloak/keycloak
    environment:
      KEYCLOAK_ADMIN: admin
      KEYCLOAK_ADMIN_PASSWORD: admin"""),
    ("compose", "docker-compose.yml", """services:
  app:
    build: .
    environment:
      DATABASE_URL: postgresql://app:${DB_PASSWORD}@db:5432/app
      REDIS_URL: redis://:${REDIS_PASSWORD:-devpassword}@redis:6379
      API_TOKEN: ${API_TOKEN:?set API_TOKEN}
    secrets:
      - db_password
secrets:
  db_password:
    file: ./secrets/db_password.txt"""),
    ("compose", "docker-compose.yml", """services:
  elasticsearch:
    environment:
      - ELASTIC_PASSWORD=changeme
      - xpack.security.enabled=true
  kibana:
    environment:
      - ELASTICSEARCH_PASSWORD=changeme"""),
    ("compose", "docker-compose.yml", """services:
  airflow:
    environment:
      AIRFLOW__CORE__FERNET_KEY: ''
      AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: postgresql+psycopg2://airflow:airflow@postgres/airflow
      _AIRFLOW_WWW_USER_PASSWORD: ${_AIRFLOW_WWW_USER_PASSWORD:-airflow}"""),
    # --- CI configs -------------------------------------------------------------------------------------
    ("ci_yaml", ".github/workflows/ci.yml", """name: CI
on: [push]
jobs:
  test:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: pytest
        env:
          OPENAI_API_KEY: ${{ secrets.OPENAI_API_KEY }}
          GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}"""),
    ("ci_yaml", ".github/workflows/release.yml", """      - name: Publish
        uses: pypa/gh-action-pypi-publish@release/v1
        with:
          password: ${{ secrets.PYPI_API_TOKEN }}
      - name: Docker login
        uses: docker/login-action@v3
        with:
          username: ${{ github.actor }}
          password: ${{ secrets.GITHUB_TOKEN }}"""),
    ("ci_yaml", ".gitlab-ci.yml", """deploy:
  stage: deploy
  script:
    - echo "$CI_REGISTRY_PASSWORD" | docker login -u "$CI_REGISTRY_USER" --password-stdin $CI_REGISTRY
    - curl --header "PRIVATE-TOKEN: $GITLAB_TOKEN" "https://gitlab.example.com/api/v4/projects"
  variables:
    POSTGRES_PASSWORD: runner-password"""),
    ("ci_yaml", ".circleci/config.yml", """jobs:
  build:
    docker:
      - image: cimg/python:3.12
        auth:
          username: mydockerhub-user
          password: $DOCKERHUB_PASSWORD  # context / project UI env-var reference"""),
    ("ci_yaml", "azure-pipelines.yml", """variables:
  - group: prod-secrets
steps:
  - script: ./deploy.sh
    env:
      API_KEY: $(apiKey)
      DB_PASSWORD: $(dbPassword)"""),
    ("ci_yaml", "Jenkinsfile", """withCredentials([string(credentialsId: 'api-token', variable: 'API_TOKEN')]) {
    sh 'curl -H "Authorization: Bearer $API_TOKEN" https://ci.example.com/hook'
}"""),
    # --- kubernetes / helm / terraform ------------------------------------------------------------------
    ("k8s", "k8s/deployment.yaml", """env:
  - name: DB_PASSWORD
    valueFrom:
      secretKeyRef:
        name: db-credentials
        key: password
  - name: API_TOKEN
    valueFrom:
      secretKeyRef: {name: api, key: token}"""),
    ("k8s", "k8s/secret.yaml", """apiVersion: v1
kind: Secret
metadata:
  name: app-secrets
type: Opaque
stringData:
  password: <set-me>
  api-token: REPLACE_ME"""),
    ("k8s", "values.yaml", """postgresql:
  auth:
    username: app
    password: ""
    existingSecret: app-postgresql
redis:
  auth:
    password: changeme
ingress:
  tls:
    - secretName: app-tls"""),
    ("k8s", "main.tf", """variable "db_password" {
  type      = string
  sensitive = true
}

resource "aws_db_instance" "default" {
  username = "admin"
  password = var.db_password
}"""),
    ("k8s", "main.tf", """provider "github" {
  token = var.github_token
}
data "aws_secretsmanager_secret_version" "api" {
  secret_id = "prod/api-key"
}"""),
    ("k8s", "terraform.tfvars.example", """db_password  = "CHANGE_ME"
github_token = "ghp_REPLACE_WITH_YOUR_TOKEN"
api_key      = "<api key from the console>\""""),
    # --- code samples -----------------------------------------------------------------------------------
    ("code", "scripts/client.py", """import os
from openai import OpenAI

client = OpenAI(api_key=os.environ.get("OPENAI_API_KEY"))
token = os.getenv("GITHUB_TOKEN")
password = getpass.getpass("Password: ")"""),
    ("code", "scripts/client.py", """from anthropic import Anthropic

client = Anthropic()  # reads ANTHROPIC_API_KEY
api_key = settings.ANTHROPIC_API_KEY
secret = config.secret_key"""),
    ("code", "scripts/app.js", """const apiKey = process.env.OPENAI_API_KEY;
const token = process.env.GITHUB_TOKEN ?? "";
const headers = { Authorization: `Bearer ${apiKey}` };"""),
    ("code", "scripts/config.ts", """export interface Config {
  apiKey: string;
  password?: string;
  accessToken: string | null;
}
export const secret: string = import.meta.env.VITE_SECRET;"""),
    ("code", "scripts/main.go", """token := os.Getenv("GITHUB_TOKEN")
if token == "" {
    log.Fatal("GITHUB_TOKEN is not set")
}
client := github.NewClient(nil).WithAuthToken(token)"""),
    ("code", "scripts/Main.java", """String password = System.getenv("DB_PASSWORD");
String apiKey = props.getProperty("api.key");
char[] secret = console.readPassword();"""),
    ("code", "scripts/settings.py", """# Django settings
SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]
DATABASES = {"default": {"ENGINE": "django.db.backends.postgresql", "PASSWORD": env("DB_PASSWORD")}}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.Argon2PasswordHasher"]"""),
    ("code", "scripts/test_auth.py", """def test_login(client):
    response = client.post("/login", data={"username": "alice", "password": "password123"})
    assert response.status_code == 200
    token = response.json()["access_token"]
    assert token"""),
    ("code", "scripts/fixtures.py", """TEST_USER = {"email": "test@example.com", "password": "testpass"}
FAKE_TOKEN = "fake-token"
DUMMY_API_KEY = "dummy-api-key-for-tests\""""),
    ("code", "scripts/rails.yml", """production:
  secret_key_base: <%= ENV["SECRET_KEY_BASE"] %>
  database:
    password: <%= ENV['DATABASE_PASSWORD'] %>"""),
    ("code", "scripts/app.php", """$password = $_ENV['DB_PASSWORD'];
$apiKey = getenv('STRIPE_SECRET');
define('AUTH_KEY', 'put your unique phrase here');"""),
    ("code", "scripts/deploy.sh", """#!/bin/sh
set -eu
: "${DEPLOY_TOKEN:?set DEPLOY_TOKEN first}"
TOKEN=$(gh auth token)
password=$(pass show deploy/db)
curl -fsS -H "Authorization: token $TOKEN" https://api.github.com/user"""),
    ("code", "scripts/ps.ps1", """$token = $env:GITHUB_TOKEN
$password = Read-Host -AsSecureString "Password"
$headers = @{ Authorization = "Bearer $token" }"""),
    ("code", "scripts/tokens.py", """max_tokens = 4096
input_tokens: int = usage.input_tokens
tokenizer = "cl100k_base"
token_count = len(tokenizer.encode(text))
TOKENIZERS_PARALLELISM = "false\""""),
    ("code", "scripts/oauth.py", """AUTHORIZE_URL = "https://github.com/login/oauth/authorize"
access_token_url = "https://github.com/login/oauth/access_token"
token_type = "bearer"
refresh_token_expires_in = 15897600"""),
    ("code", "scripts/ssh.py", """private_key_path = "~/.ssh/id_ed25519"
key = paramiko.Ed25519Key.from_private_key_file(private_key_path)
public_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl user@host\""""),
    ("code", "scripts/hash.py", """# checksums and ids are not secrets
sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
commit = "3f2a9c1e7b4d8a6f5c0e2d1b9a8c7f6e5d4c3b2a"
request_id = "f47ac10b-58cc-4372-a567-0e02b2c3d479\""""),
    ("code", "scripts/lock.json", """{
  "node_modules/left-pad": {
    "version": "1.3.0",
    "resolved": "https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz",
    "integrity": "sha512-XI5MPzVNApjAyhQzphX8BkmKsKUxD4LdyK24iZeQTJ5sKmMKqqnBthoK1cI4BTtWg3aM7oL1ADhJ5t1yH1sBPNw=="
  }
}"""),
    ("code", "scripts/firebase.js", """const firebaseConfig = {
  apiKey: "<FIREBASE_API_KEY>",
  authDomain: "my-app.firebaseapp.com",
  projectId: "my-app",
};"""),
    ("code", "scripts/db.py", """engine = create_engine("postgresql://user:password@localhost/mydb")
mongo = MongoClient("mongodb://admin:<password>@cluster0.mongodb.net/?retryWrites=true")
redis = Redis.from_url("redis://:secret@localhost:6379/0")
amqp = "amqp://guest:guest@localhost:5672/\""""),
    ("code", "scripts/db.go", """dsn := fmt.Sprintf("postgres://%s:%s@%s/%s", user, password, host, name)
url := "mysql://root:${MYSQL_ROOT_PASSWORD}@db:3306/app\""""),
    ("code", "scripts/requests_example.py", """resp = requests.get(url, auth=("user", "pass"))
resp = requests.get(url, headers={"Authorization": f"Bearer {token}"})
resp = requests.get(url, headers={"X-API-Key": api_key})"""),
    ("code", "scripts/jwt_example.py", """encoded = jwt.encode({"some": "payload"}, "secret", algorithm="HS256")
decoded = jwt.decode(encoded, key, algorithms=["HS256"])
SECRET = "your-256-bit-secret\""""),
    ("code", "scripts/crypto.py", """from cryptography.fernet import Fernet
key = Fernet.generate_key()
secret_key = secrets.token_hex(32)
password_hash = bcrypt.hashpw(password.encode(), bcrypt.gensalt())"""),
    # --- configuration files ------------------------------------------------------------------------
    ("config", "config.toml", """[model]
provider = "openai"
api_key = "${OPENAI_API_KEY}"

[database]
password = "" # set in .env"""),
    ("config", "config.yaml", """llm:
  provider: anthropic
  api_key: ${ANTHROPIC_API_KEY}
  model: claude-sonnet
smtp:
  host: smtp.example.com
  password: !env SMTP_PASSWORD"""),
    ("config", "settings.ini", """[database]
host = localhost
user = app
password = secret

[api]
key = YOUR_KEY_HERE
token = xxxxxxxxxxxxxxxx"""),
    ("config", "config.json", """{
  "apiKey": "YOUR_API_KEY",
  "apiSecret": "YOUR_API_SECRET",
  "accessToken": "",
  "refreshToken": null
}"""),
    ("config", "appsettings.json", """{
  "ConnectionStrings": {
    "Default": "Server=localhost;Database=App;User Id=sa;Password=<YourStrong@Passw0rd>;"
  },
  "Jwt": { "Key": "ThisIsMySecretKeyForJwtToken", "Issuer": "https://localhost:5001" }
}"""),
    ("config", "application.properties", """spring.datasource.url=jdbc:postgresql://localhost:5432/app
spring.datasource.username=postgres
spring.datasource.password=postgres
jwt.secret=mySecretKey"""),
    ("config", ".npmrc", """//registry.npmjs.org/:_authToken=${NPM_TOKEN}
always-auth=true"""),
    ("config", ".pypirc", """[pypi]
username = __token__
password = pypi-<your token>"""),
    ("config", "wp-config-sample.php", """define( 'DB_PASSWORD', 'password_here' );
define( 'AUTH_KEY',         'put your unique phrase here' );
define( 'SECURE_AUTH_KEY',  'put your unique phrase here' );"""),
    ("config", "mcp.json", """{
  "mcpServers": {
    "github": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-github"],
      "env": { "GITHUB_PERSONAL_ACCESS_TOKEN": "<YOUR_TOKEN>" }
    }
  }
}"""),
    ("config", "claude_desktop_config.json", """{"mcpServers": {"brave-search": {"command": "npx",
  "env": {"BRAVE_API_KEY": "YOUR_API_KEY_HERE"}}}}"""),
    # --- prose and skill instructions -----------------------------------------------------------------
    ("prose", "SKILL.md", """## Steps
1. Ask the user for their API token if `API_TOKEN` is not set; never print it.
2. Pass the token with `--token "$API_TOKEN"`, not on the command line history.
3. Passwords must be at least 12 characters; the password is hashed with Argon2."""),
    ("prose", "SKILL.md", """## Pitfalls
- A 401 means the token expired: run `app login` again.
- The secret key is read from `SECRET_KEY`; set it in production.
- Don't commit `.env`; commit `.env.example` with `API_KEY=` left empty."""),
    ("prose", "references/security.md", """Rotate keys that leaked: revoke `sk-...` keys in the OpenAI dashboard and `ghp_...`
tokens under Settings → Developer settings. A token like `xoxb-...` is revoked in the Slack app
settings."""),
    ("prose", "references/faq.md", """**Where do I find my access key?** In the IAM console under Security credentials. It looks
like `AKIA` followed by 16 characters, and the secret access key is 40 characters long."""),
    ("prose", "references/errors.md", """```
openai.AuthenticationError: Error code: 401 - {'error': {'message': 'Incorrect API key provided:
sk-proj-********************************************abcd. You can find your API key at
https://platform.openai.com/account/api-keys.'}}
```"""),
    ("prose", "references/errors.md", """```
fatal: Authentication failed for 'https://github.com/org/repo.git/'
remote: Invalid username or password.
hint: use a personal access token (ghp_…) instead of your password
```"""),
    ("prose", "references/cli.md", """Options:
  --api-key TEXT     API key (default: $APP_API_KEY)
  --token TEXT       Access token; prefer the APP_TOKEN variable
  --password TEXT    Database password (prompted when omitted)"""),
    ("prose", "references/glossary.md", """- **Bearer token**: a token that grants access to whoever bears it.
- **API key**: a long random string that identifies a project; treat it as a password.
- **Secret**: the token secret is shown once, at creation time."""),
]


# Placeholder styles people put where a key goes, crossed with the places they put them.
_STYLES = [
    "sk-...", "<your-api-key>", "${API_KEY}", "$API_KEY", "YOUR_API_KEY", "your-api-key-here", "xxxxxxxxxxxxxxxx",
    "****************", "<API_KEY>", "{{ api_key }}", "%API_KEY%", "REPLACE_ME", "sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "sk-proj-abc123...", "ghp_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "<token>", "changeme", "example-key",
]
_PLACES = [
    ("env_example", ".env.example", "API_KEY={v}\n"),
    ("config", "config.yaml", "service:\n  api_key: \"{v}\"\n"),
    ("code", "scripts/call.py", "client = Client(api_key=\"{v}\")\n"),
    ("readme", "README.md", "```bash\ncurl -H \"Authorization: Bearer {v}\" https://api.example.com/v1/me\n```\n"),
]


def benign_items() -> list[tuple[str, str, str]]:
    """The benign corpus: (category, file name, text), over 100 items."""
    generated = [(category, name, template.format(v=style))
                 for i, style in enumerate(_STYLES)
                 for j, (category, name, template) in enumerate(_PLACES) if (i + j) % 2 == 0]
    return _HAND_WRITTEN + generated

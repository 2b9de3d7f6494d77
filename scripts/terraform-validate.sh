#!/usr/bin/env bash
# Checks infra/ with a Terraform CLI, as far as this machine allows.
#
#   scripts/terraform-validate.sh
#
# 1. terraform fmt -check -recursive infra      needs no provider: always run when a
#                                                terraform (or tofu) CLI is on PATH
# 2. terraform init -backend=false + validate   needs the hashicorp/aws and
#                                                grafana/grafana providers. Run only when
#      TF_PROVIDER_DIR=<dir>        a local plugin directory holds them (init
#                                   -plugin-dir: no network at all), or
#      TERRAFORM_VALIDATE_ONLINE=1  the machine may download them from the Terraform
#                                   registry (an operator's workstation).
#    Otherwise step 2 is skipped with a note: the registry is not reachable from this
#    project's machines and CI, and validate cannot work without provider schemas.
#
# The Go tests in infra/ (go test ./infra/) parse every .tf file with hcl/v2 and check
# references, secrets, SSM names, images and IAM without any of this.
# Exit status: non-zero when fmt or validate fail; 0 when only skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

# Never phone home for version checks; keep Terraform's data out of the tree.
export CHECKPOINT_DISABLE=1

tf=${TERRAFORM:-}
if [ -z "$tf" ]; then
  tf=$(command -v terraform || command -v tofu || true)
fi
if [ -z "$tf" ]; then
  echo "terraform-validate: no terraform or tofu CLI on PATH: skipped (go test ./infra/ still checks every .tf)"
  exit 0
fi
# A CLI config file named by the environment but missing only produces a warning.
if [ -n "${TF_CLI_CONFIG_FILE:-}" ] && [ ! -e "$TF_CLI_CONFIG_FILE" ]; then
  unset TF_CLI_CONFIG_FILE
fi

echo "terraform-validate: $("$tf" version | head -n1)"
echo "== $tf fmt -check -recursive infra"
if ! "$tf" fmt -check -recursive -diff infra; then
  echo "terraform-validate: formatting differs (run: terraform fmt -recursive infra)"
  exit 1
fi
echo "fmt: ok"

init_args=()
if [ -n "${TF_PROVIDER_DIR:-}" ]; then
  if [ ! -d "$TF_PROVIDER_DIR" ]; then
    echo "terraform-validate: TF_PROVIDER_DIR=$TF_PROVIDER_DIR is not a directory"
    exit 1
  fi
  init_args=(-plugin-dir="$(cd "$TF_PROVIDER_DIR" && pwd)")
elif [ "${TERRAFORM_VALIDATE_ONLINE:-}" != "1" ]; then
  echo "validate: skipped - terraform init needs the hashicorp/aws and grafana/grafana providers,"
  echo "  which come from the Terraform registry (not reachable here). Set TF_PROVIDER_DIR to a"
  echo "  plugin directory that holds them, or TERRAFORM_VALIDATE_ONLINE=1 where the registry is"
  echo "  reachable."
  exit 0
fi

# Work on a copy (infra/ reads ../monitoring/*), so .terraform/ and the lock file
# stay out of the work tree.
# The only rm -rf here: $work is the fresh directory mktemp just created (under
# set -e a failed mktemp ends the script before the trap exists), never a path
# taken from the environment as such.
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
cp -R infra monitoring "$work"/
cd "$work/infra"
echo "== $tf init -backend=false ${init_args[*]:-}"
"$tf" init -backend=false -input=false -no-color "${init_args[@]}"
echo "== $tf validate"
"$tf" validate -no-color

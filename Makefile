# Two commands for a fresh machine (both install what is missing first):
#   make demo   devserver + demo page on http://127.0.0.1:4000
#   make test   every test tier; ends with "N passed, N failed"
.PHONY: demo test bootstrap

demo:
	@scripts/demo.sh

test:
	@scripts/test.sh

bootstrap:
	@scripts/bootstrap.sh

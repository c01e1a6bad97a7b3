"""The researcher's journey through the pages only, in Chromium, on a real worker, from a fresh
`seed_demo` and its demo researcher: upload a model folder, register the model as a version, fine-tune it from the version's page
with the form's defaults, watch the run's charts, evaluate the base and the fine-tune and compare
them, deploy the base with the fine-tune as a 20 % canary, chat with the service, then read a few
of the same screens in Chinese."""

import re
from io import StringIO
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from django.contrib.auth import get_user_model
from django.core.management import call_command

from hub.tiny_models import build_tiny_gpt2
from registry.models import AiApplicationVersion
from serving.models import ModelService, Replica
from tests.files.test_browser import log_in
from tests.serving.conftest import kill_replicas, replica_pids
from training.models import LlmTask

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True),
              pytest.mark.timeout(900)]

UUID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def model_folder(tmp_path):
    """A tiny GPT-2 as a save_pretrained folder, as a researcher would have it on their machine."""
    return Path(build_tiny_gpt2(tmp_path / "journey-gpt2", train_steps=20))


def upload_folder(page, url, folder):
    page.goto(url + "/files/")
    page.set_input_files("[data-testid=upload-folder]", str(folder))
    page.click("[data-testid=upload-submit]")
    page.locator(f"[data-testid=file-row][data-name='{folder.name}']").wait_for(timeout=60_000)


def wait_text(page, selector, pattern, timeout=300_000):
    page.wait_for_function(
        "([selector, pattern]) => { const el = document.querySelector(selector);"
        " return el && new RegExp(pattern).test(el.textContent); }",
        arg=[selector, pattern], timeout=timeout,
    )


@pytest.fixture
def replicas_ended(transactional_db):
    yield
    kill_replicas()
    assert not replica_pids()


def test_upload_register_fine_tune_evaluate_compare_deploy_and_chat_from_the_pages(
    page, live_server, celery_worker, model_folder, replicas_ended
):
    url = live_server.url
    model = model_folder
    call_command("seed_demo", stdout=StringIO())
    user = get_user_model().objects.get(username="researcher")
    log_in(page, url, user, "crucible-researcher")

    # Files: the model folder, uploaded whole (the demo's /Data holds train/, validate/ and test/).
    upload_folder(page, url, model)

    # Registry: a version from the model folder, picked from the folder picker.
    page.goto(url + "/registry/")
    page.click("[data-testid=registry-new-link]")
    page.fill("#id_application", "journey-base")
    page.check("input[name=source][value=files]")
    assert page.locator(f"#file-folders option[value='/{model.name}']").count() == 1
    page.fill("#id_folder", f"/{model.name}")
    page.click("[data-testid=registry-new-form] button[type=submit]")
    page.wait_for_url(re.compile(r".*/registry/\w+/$"))
    for _ in range(60):  # the import job: reload until the version is imported
        if page.locator("[data-testid=action-finetune]").count():
            break
        page.wait_for_timeout(1000)
        page.reload()
    base_uid = page.locator("[data-testid=version-id]").first.inner_text()
    assert UUID.fullmatch(base_uid)

    # Fine-tune from the version's page: the form starts with the version and /Data chosen.
    page.click("[data-testid=action-finetune]")
    assert page.input_value("#base_version") == base_uid and page.input_value("#data_folder") == "Data"
    page.fill("#name", "journey-lora")
    with page.expect_response(re.compile(r".*/training/hyper-defaults.*")):
        page.select_option("#strategy", "FineTune")  # the strategy switch keeps what was typed
    with page.expect_response(re.compile(r".*/training/hyper-defaults.*")):
        page.select_option("#strategy", "LoRA")
    assert page.input_value("#name") == "journey-lora" and page.input_value("#base_version") == base_uid
    page.fill("#hyper", "max_steps=12\nlearning_rate=0.02\nlogging_steps=2\nsave_steps=100\nmax_seq_length=32\n"
                        "per_device_train_batch_size=4\nlora_r=8")
    page.click("[data-testid=create-form] button[type=submit]")
    page.wait_for_url(re.compile(r".*/training/tasks/\d+/$"))
    wait_text(page, "#status", "Succeeded|succeeded", timeout=600_000)
    page.wait_for_timeout(2000)  # the page reloads itself once when the run ends
    page.goto(page.url)
    # The charts drew the run: loss points, and the learning rate next to them.
    page.wait_for_function("() => Chart.getChart('loss-chart').data.datasets[0].data.length > 0")
    page.wait_for_function("() => Chart.getChart('optim-chart').data.datasets[0].data.length > 0")
    assert page.locator("#eta").inner_text() != "—"
    task = LlmTask.objects.get(name="journey-lora")
    tuned = AiApplicationVersion.objects.get(pk=task.produced_version_id)
    assert page.locator("[data-testid=produced-model]").is_visible()
    # Lineage by name: the run names its base version and data folder; the produced version its run.
    assert page.locator("[data-testid=base-model] a").inner_text() == "journey-base 0.0.1"
    assert page.locator("[data-testid=data-source] a").inner_text() == "/Data"
    page.goto(url + f"/registry/{tuned.application.uid}/")
    assert page.locator("[data-testid=origin-task]").inner_text() == "journey-lora"

    # Evaluate the base and the fine-tune from their versions' pages, then compare them.
    evaluations = []
    for uid in (base_uid, tuned.uid):
        page.goto(url + f"/evaluation/?version={uid}")
        assert page.input_value("#version") == uid
        page.fill("#name", f"journey-eval-{len(evaluations)}")
        page.click("[data-testid=create-form] button[type=submit]")
        page.wait_for_url(re.compile(r".*/evaluation/tasks/\d+/$"))
        evaluations.append(page.url.rstrip("/").rsplit("/", 1)[1])
        wait_text(page, "[data-testid=status]", "Succeeded|succeeded", timeout=300_000)
    page.goto(url + f"/evaluation/compare/?tasks={','.join(evaluations)}")
    assert page.locator("text=perplexity").first.is_visible()

    # Deploy the base from its version's Deploy action, then the fine-tune as a 20 % canary.
    base = AiApplicationVersion.objects.get(uid=base_uid)
    page.goto(url + f"/registry/{base.application.uid}/")
    page.click("[data-testid=action-deploy]")
    page.fill("#id_name", "journey")
    page.click("[data-testid=deploy]")
    page.wait_for_url(re.compile(r".*/serving/\w+/$"))
    service = ModelService.objects.get(owner=user, name="journey")
    page.fill("#id_canary-version", tuned.uid)
    page.fill("#id_canary-rate", "20")
    page.click("[data-testid=add-version]")
    page.wait_for_load_state()
    page.fill("#id_v1-rate", "80")  # the base keeps 80 of 100
    page.click("[data-testid=version-settings-1] button[type=submit]")
    page.wait_for_load_state()
    assert sorted(service.versions.values_list("rate", flat=True)) == [20, 80]
    # The live part follows both versions to running by itself.
    page.wait_for_function(
        "() => { const live = document.querySelector('[data-testid=service-live]');"
        " return live && !live.hasAttribute('hx-get'); }", timeout=300_000)
    assert set(service.versions.values_list("status", flat=True)) == {"running"}

    # Chat with the service: a streamed answer from one of its versions.
    page.goto(url + "/chat/")
    page.select_option("[data-testid=model-picker]", "serving:journey")
    page.fill("[data-testid=chat-input]", "The river runs")
    page.click("[data-testid=chat-send]")
    try:
        page.locator(".msg.chatcar[data-done=true] .text").wait_for(timeout=120_000)
    except PlaywrightTimeout:  # say what the page and the service showed instead of a bare timeout
        versions = list(service.versions.values_list("number", "status", "error"))
        replicas = [(r.version.number, r.status, r.port) for r in Replica.objects.filter(version__service=service)]
        raise AssertionError(f"no answer in 120 s; the chat shows {page.inner_text('main')[-1500:]!r}; "
                             f"versions {versions}; replicas {replicas}") from None
    assert page.locator(".msg.chatcar[data-done=true] .text").inner_text().strip()

    # The same screens in Chinese, switched from the navigation.
    page.goto(url + "/training/")
    page.click("[data-testid=language-zh-hans]")
    page.wait_for_load_state()
    assert "训练" in page.locator("h1").inner_text()
    page.goto(url + f"/training/tasks/{task.pk}/")
    assert "损失" in page.content()
    page.goto(url + f"/registry/{tuned.application.uid}/")
    assert page.locator("[data-testid=action-evaluate]").is_visible()
    headings = {"/files/": "文件", "/registry/new/": "注册模型版本", f"/training/?version={tuned.uid}": "训练",
                f"/evaluation/compare/?tasks={','.join(evaluations)}": "对比", f"/serving/{service.uid}/": "journey",
                "/chat/": "新对话"}
    for path, word in headings.items():
        page.goto(url + path)
        assert page.locator("html").get_attribute("lang") == "zh-hans", path
        assert word in page.locator("main").inner_text(), path
    assert not page.js_errors

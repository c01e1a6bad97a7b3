"""Pages in English and Simplified Chinese (Django's i18n), API answers the same in both.

The page's language comes from the switcher's cookie, else the browser's Accept-Language,
else English; no URL changes. The specs' Chinese values (an image's 成功, an evaluation's
runTime "54分41秒", 任务id) stay in API answers and are shown translated on pages.
"""

import json
import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from evaluation.models import EvaluationTask
from experiments.models import Experiment, ExperimentRun
from images import services as image_services
from images.models import ImageStatus, ImageTag
from registry import services as registry_services
from serving import services as serving_services
from sgt import services as sgt_services
from tests.evaluation.factories import EvaluationTaskFactory
from tests.experiments.conftest import furnace, operator, operator_client, ramp_and_hold  # noqa: F401  (fixtures)
from tests.files.helpers import UPLOAD_FOLDER, a_file
from tests.hub.factories import make_repo
from tests.registry.conftest import tiny_model_dir  # noqa: F401  (fixture)
from training.models import LlmTask

pytestmark = pytest.mark.django_db

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-Hans,zh;q=0.9,en;q=0.5"}
EN = {"HTTP_ACCEPT_LANGUAGE": "en-US,en;q=0.9"}
# Words of the navigation and common headings in Chinese, and the English they replace.
NAV_ZH = ["模型中心", "模型注册表", "文件", "镜像", "训练", "评测", "推理服务", "对话", "实验", "API 文档"]
NAV_EN = [">Hub</a>", ">Registry</a>", ">Files</a>", ">Images</a>", ">Training</a>", ">Evaluation</a>",
          ">Serving</a>", ">Chat</a>", ">Experiments</a>", ">API docs</a>"]
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def world(user, operator, operator_client, furnace, tiny_model_dir):  # noqa: F811
    """One of everything the pages show, owned by alice (the furnace parameters set by the operator)."""
    repo = make_repo(user, "tiny", files={"README.md": b"# Tiny\n", "config.json": b"{}"})
    image = image_services.create_image(owner=user, name="crucible/serve", labels=["demo"], overview="A serving image")
    ImageTag.objects.create(image=image, tag="1.0", file_url="Image/serve.tar", status=ImageStatus.SUCCESS,
                            archive_format="docker-save", size=4096)
    version = registry_services.register_training_result(
        owner=user, application_name="tiny-chat", folder=tiny_model_dir, hyper_parameters={"learning_rate": 1e-4}
    )
    now = timezone.now()
    llm = LlmTask.objects.create(owner=user, name="tune-1", model_source="files", model_ref="Model",
                                 data_source="files", data_ref="Data", status="succeeded", total_steps=4, current_step=4)
    evaluation = EvaluationTaskFactory(owner=user, name="eval-1", status="succeeded", results={"perplexity": 12.5},
                                       started_at=now - timedelta(seconds=3281), finished_at=now)
    other = EvaluationTaskFactory(owner=user, name="eval-2", status="succeeded", results={"perplexity": 10.0})
    operator_client.post("/set_parameters", {"Parameters": ramp_and_hold("I18N-1")}, format="json")
    experiment = Experiment.objects.get()
    run = ExperimentRun.objects.create(owner=user, experiment=experiment, furnace=furnace,
                                       program=experiment.program(), progress=1.0, status="succeeded",
                                       started_at=now - timedelta(minutes=5), finished_at=now)
    sgt = sgt_services.create_model(user, "alice-sgt", name="line", app_name="lab", model_type="linear_regression",
                                    in_size=1, out_size=1)
    service, _ = serving_services.create_service(
        owner=user, name="tiny-chat", versions=[serving_services.VersionSpec(registry_version=version.uid)],
    )
    return {"repo": repo, "image": image, "version": version, "llm": llm, "evaluation": evaluation, "other": other,
            "run": run, "sgt": sgt, "service": service}


def in_script(text):
    """`text` as json_script writes it (non-ASCII as \\u escapes): the words a page gives its script."""
    return json.dumps(text)[1:-1]


def pages(world):
    """(path, Chinese strings the page shows in Chinese, English strings it shows in English)."""
    version, evaluation = world["version"], world["evaluation"]
    return [
        ("/", ["平台状态", "数据库"], ["Platform health", "Database"]),
        ("/hub/", ["模型与数据集", "新建仓库"], ["Models and datasets", "New repository"]),
        ("/hub/model/alice/tiny/", ["修订历史", "上传文件"], ["Revisions", "Upload files"]),
        ("/hub/new/", ["新建仓库", "创建仓库"], ["New repository", "Create repository"]),
        ("/hub/model/alice/tiny/upload/", ["提交上传"], ["Commit upload"]),
        ("/files/", ["你的私有空间", "新建文件夹"], ["Your private space", "Make folder"]),
        ("/files/public/", ["公开"], ["Public"]),
        ("/images/", ["镜像", "就绪"], ["Images", "Ready"]),
        (f"/images/{world['image'].uid}/", ["全部镜像", "就绪"], ["All images", "Ready"]),
        ("/registry/", ["模型注册表", "已导入"], ["Model registry", "Imported"]),
        (f"/registry/{version.application.uid}/", ["训练结果", "超参数"], ["Training result", "Hyper-parameters"]),
        ("/training/", ["新建微调或预训练", "任务式建模"], ["New fine-tune or pretraining run", "Task-based modeling"]),
        (f"/training/tasks/{world['llm'].pk}/", [">成功</span>", "损失"], [">succeeded</span>", "<h2>Loss</h2>"]),
        ("/evaluation/", ["新建评测", "对比所选"], ["New evaluation", "Compare selected"]),
        (f"/evaluation/tasks/{evaluation.pk}/", ["54分41秒", "结果"], ["54 min 41 s", "Results"]),
        (f"/evaluation/compare/?tasks={evaluation.pk},{world['other'].pk}", ["对比评测", "指标"],
         ["Compare evaluations", "Metric"]),
        (f"/evaluation/version/{version.pk}/", ["模型注册表"], ["Registry"]),
        ("/experiments/", ["实验设计", "校验"], ["Experiment designer", "Validate"]),
        ("/experiments/history/", ["任务 ID", "实验 ID"], ["Task id", "Experiment id"]),
        (f"/experiments/runs/{world['run'].pk}/", ["程序", "温度：设定值与实测值"], ["Program", "Temperatures"]),
        (f"/experiments/runs/{world['run'].pk}/panel", [">成功</span>", "炉内时间"], [">succeeded</span>", "Furnace time"]),
        ("/sgt/", ["我的 SGT 模型", "模型类型"], ["My SGT models", "Model types"]),
        ("/sgt/shared/", ["公开的 SGT 模型"], ["Public SGT models"]),
        (f"/sgt/models/{world['sgt'].pk}/", ["训练损失", "训练任务"], ["Training loss", "Training jobs"]),
        ("/accounts/profile/", ["API 密钥", "计算配额", "存储配额"], ["API keys", "Compute quota", "Storage quota"]),
        ("/accounts/password/", ["修改密码"], ["Change password"]),
        ("/serving/", ["模型服务", "新建服务", "流量权重", "单副本阈值", "已保存（未部署）"],
         ["Model services", "New service", "Traffic weight", "Per-replica threshold", "Saved (not deployed)"]),
        (f"/serving/?version={version.uid}", ["新建服务", "服务名称"], ["New service", "Service name"]),
        (f"/serving/{world['service'].uid}/", ["版本和副本", "添加版本（金丝雀）", "权重、副本和自动扩缩容", "文本生成（对话、补全）",
                                               "每秒请求数", "私有（仅所有者）"],
         ["Versions and replicas", "Add a version (canary)", "Weights, replicas and autoscaling",
          "Text generation (chat, completions)", "Private (only the owner)"]),
        (f"/serving/{world['service'].uid}/live", ["副本", "事件", "0 次请求"], ["<h3>Replicas</h3>", "<h3>Events</h3>",
                                                                             "0 requests"]),
        ("/serving/playground/", ["试验场", "发送（流式）", in_script("还没有消息。")], ["Playground", "Send (streamed)", "No messages yet"]),
        ("/chat/", ["新对话", "对话设置", "系统提示词", in_script("重新生成")],
         ["New chat", "Conversation settings", "System prompt", "Send a message (Enter to send"]),
        ("/registry/new/", ["注册模型版本", "应用名称", "模型中心中的模型"],
         ["Register a model version", "Application name", "A model in the hub"]),
        (f"/registry/{version.application.uid}/", ["部署", "评测"], [">Deploy</a>", ">Evaluate</a>"]),
        ("/hub/model/alice/tiny/blob/README.md", ["下载", "编辑模型卡片"], [">Download</a>", "Edit card"]),
        ("/hub/model/alice/tiny/edit/README.md", ["编辑模型卡片", "提交说明"], ["Edit the model card", "Commit message"]),
        (f"/sgt/models/{world['sgt'].pk}/", ["添加训练数据行", "克隆到我的模型", "副本名称"],
         ["Add training rows", "Clone into my models", "Name of your copy"]),
    ]


def test_every_main_page_in_chinese_from_the_browsers_language(client, user, world):
    client.force_login(user)
    for path, chinese, english in pages(world):
        response = client.get(path, **ZH)
        assert response.status_code == 200, path
        html = response.content.decode()
        for text in chinese:
            assert text in html, (path, text)
        assert "{#" not in html and "{%" not in html and "#}" not in html, path  # no template source shows
        if not path.endswith(("/panel", "/live")):  # the htmx fragment has no layout
            assert '<html lang="zh-hans">' in html, path
            for word in NAV_ZH:
                assert f">{word}</a>" in html, (path, word)
            for word in NAV_EN:
                assert word not in html, (path, word)  # no leftover English navigation
        for text in english:
            assert text not in html, (path, text)


def test_every_main_page_in_english_by_default(client, user, world):
    client.force_login(user)
    for path, chinese, english in pages(world):
        for headers in ({}, EN):  # no Accept-Language at all, and an English browser
            response = client.get(path, **headers)
            assert response.status_code == 200, path
            html = response.content.decode()
            for text in english:
                assert text in html, (path, text)
            for text in chinese:
                assert text not in html, (path, text)
            if not path.endswith(("/panel", "/live")):
                assert '<html lang="en">' in html, path
                for word in NAV_ZH:
                    assert f">{word}</a>" not in html, (path, word)


def test_the_specs_chinese_values_are_translated_on_english_pages(client, user, world):
    client.force_login(user)
    images = client.get("/images/").content.decode()
    assert "Ready" in images and "成功" not in images
    task = client.get(f"/evaluation/tasks/{world['evaluation'].pk}/").content.decode()
    assert "54 min 41 s" in task and "54分41秒" not in task
    history = client.get("/experiments/history/").content.decode()
    assert "Task id" in history and "任务id" not in history and "实验id" not in history
    # The pages of an English browser carry no Chinese but the switcher's own name.
    for path in ("/images/", f"/evaluation/tasks/{world['evaluation'].pk}/", "/experiments/history/", "/training/"):
        html = client.get(path, **EN).content.decode().replace("中文", "")
        assert not CJK.search(html), (path, CJK.findall(html)[:10])


def test_chinese_variants_of_the_browser_choose_simplified_chinese(client):
    for header in ("zh-CN,zh;q=0.9", "zh", "zh-Hans-CN"):
        html = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE=header).content.decode()
        assert '<html lang="zh-hans">' in html and "登录" in html, header
    assert '<html lang="en">' in client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="fr-FR,fr").content.decode()


def test_login_register_and_error_pages_in_chinese(client, user):
    login = client.get("/accounts/login/", **ZH)
    assert login.status_code == 200 and "登录" in login.content.decode() and "用户名" in login.content.decode()
    register = client.get("/accounts/register/", **ZH).content.decode()
    assert "创建账号" in register and "再次输入密码" in register and "Create an account" not in register
    missing = client.get("/no-such-page/", **ZH)
    assert missing.status_code == 404 and "页面不存在" in missing.content.decode()
    assert "Page not found" in client.get("/no-such-page/").content.decode()
    # A form error from Django itself is in Chinese too.
    response = client.post("/accounts/login/", {"username": "alice", "password": "wrong"}, **ZH)
    assert "请输入一个正确的" in response.content.decode()


def test_the_switcher_chooses_the_language_and_it_sticks(client, user):
    client.force_login(user)
    html = client.get("/hub/", **EN).content.decode()
    assert 'action="/i18n/setlang/"' in html and 'name="language" value="zh-hans"' in html
    response = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/hub/"}, **EN)
    assert response.status_code == 302 and response["Location"] == "/hub/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hans"
    # The cookie wins over an English browser, on every page, until switched back.
    for path in ("/hub/", "/training/", "/accounts/profile/"):
        html = client.get(path, **EN).content.decode()
        assert '<html lang="zh-hans">' in html and "退出登录" in html, path
    assert 'name="language" value="en"' in client.get("/hub/", **EN).content.decode()
    client.post("/i18n/setlang/", {"language": "en", "next": "/hub/"})
    assert '<html lang="en">' in client.get("/hub/", **ZH).content.decode()


def test_no_language_prefix_and_no_redirect(client, user):
    client.force_login(user)
    for path in ("/hub/", "/training/", "/images/"):
        response = client.get(path, **ZH)
        assert response.status_code == 200 and response["Content-Language"] == "zh-hans", path
    assert client.get("/zh-hans/hub/", **ZH).status_code == 404


def test_api_answers_are_the_same_in_both_languages(client, auth_client, user, operator_client, furnace, world):  # noqa: F811
    """Spec envelopes keep their Chinese messages; DRF's own messages and the clean API stay English."""
    answers = {}
    for name, headers in (("en", EN), ("zh", ZH), ("none", {})):
        answers[name] = [
            operator_client.post("/set_parameters", {"Parameters": ramp_and_hold("I18N-2")}, format="json", **headers),
            auth_client.post("/docker/image/findListSort", {"pageNum": 1, "pageSize": 10}, format="json", **headers),
            auth_client.post("/model/evaluation/task/page", {"taskName": "eval-1"}, format="json", **headers),
            auth_client.get(f"/api/v1/evaluation/tasks/{world['evaluation'].pk}/", **headers),
            auth_client.get("/api/v1/hub/repos?author=alice", **headers),
            client.get("/api/v1/evaluation/tasks/", **headers),  # no credentials: DRF's own message
            auth_client.post("/model/evaluation/task/create", {}, format="json", **headers),  # a validation error
        ]
    for zh, en, none in zip(answers["zh"], answers["en"], answers["none"]):
        assert zh.status_code == en.status_code == none.status_code, zh.request["PATH_INFO"]
        assert zh.content == en.content == none.content, (zh.request["PATH_INFO"], zh.content[:300], en.content[:300])
        assert not zh.has_header("Content-Language"), zh.request["PATH_INFO"]
    set_parameters, images, evaluations, _, _, unauthenticated, _ = answers["en"]
    assert set_parameters.json()["message"] == "参数已设定"
    assert "成功" in images.content.decode()
    assert evaluations.json()["data"]["rows"][0]["runTime"] == "54分41秒"
    assert unauthenticated.status_code == 401 and "身份" not in unauthenticated.content.decode()


def test_every_api_route_runs_untranslated_and_every_page_route_translated():
    """The middleware's split, over the whole URL configuration: spec facades, the clean API, the
    OpenAI-compatible and Hugging Face routes are APIs; each app's pages module is pages."""
    from django.urls import URLPattern, URLResolver, get_resolver

    from core.i18n import is_page_view

    def callbacks(patterns):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from callbacks(pattern.url_patterns)
            elif isinstance(pattern, URLPattern):
                yield pattern.callback

    seen = {"api": 0, "page": 0}
    for callback in callbacks(get_resolver().url_patterns):
        module = callback.__module__
        if module.rsplit(".", 1)[-1] in ("compat", "api", "openai_api", "hf", "hf_write") or hasattr(callback, "cls"):
            assert not is_page_view(callback), (module, callback.__name__)
            seen["api"] += 1
        elif module.endswith(".pages"):
            assert is_page_view(callback), (module, callback.__name__)
            seen["page"] += 1
    assert seen["api"] > 100 and seen["page"] > 30, seen


def test_the_metric_definitions_are_in_the_catalogue(client, user):
    """evaluation.metrics stays free of Django; evaluation.pages lists its definitions for translation."""
    from evaluation.metrics import METRICS
    from evaluation.pages import METRIC_DEFINITIONS

    assert {definition for _group, definition, _better in METRICS.values()} <= set(METRIC_DEFINITIONS)
    client.force_login(user)
    html = client.get("/evaluation/", **ZH).content.decode()
    assert "exp(loss)：模型下测试文本的困惑度" in html


def test_file_pages_and_their_previews_in_chinese(client, auth_client, user):
    for name, content in (("train.jsonl", b'{"text": "hello"}\n{"text": "again"}\n'), ("weights.bin", b"\x00\x01" * 50)):
        auth_client.post(UPLOAD_FOLDER, {"file": a_file(name, content), "currentPath": "/Data"})
    client.force_login(user)
    table = client.get("/files/private/Data/train.jsonl", **ZH).content.decode()
    assert "前 2 行。" in table and "下载" in table and "修改于" in table and "The first" not in table
    binary = client.get("/files/private/Data/weights.bin", **ZH).content.decode()
    assert "无法预览：二进制文件。" in binary and "binary file" not in binary
    assert "No preview: binary file." in client.get("/files/private/Data/weights.bin", **EN).content.decode()

import factory

from evaluation.models import EvaluationTask, MetricValue
from tests.factories import UserFactory


class EvaluationTaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EvaluationTask

    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"evaluation-{n}")
    kind = "builtin"
    metrics = ["perplexity"]
    model_type = "local"
    model_source = "files"
    model_ref = "Model"
    input_type = "local"
    data_source = "files"
    data_ref = "Data"
    output_dir = "Evaluations"


class MetricValueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MetricValue

    task = factory.SubFactory(EvaluationTaskFactory)
    name = "perplexity"
    value = 1.0

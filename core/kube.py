"""One way to reach a Kubernetes cluster, for the training (Kubeflow) and serving (KServe) backends."""


def api_client(kubeconfig, *, error):
    """A fresh `kubernetes.client.ApiClient`: the kubeconfig file `kubeconfig` when set, else the
    in-cluster service account, else ~/.kube/config. The client's global default configuration
    is left alone. Raises `error(message)` when none of them works. (kubernetes is imported here,
    not at start-up: only these backends need it.)"""
    from kubernetes import client, config

    if not kubeconfig:
        configuration = client.Configuration()
        try:
            config.load_incluster_config(client_configuration=configuration)
            return client.ApiClient(configuration)
        except config.ConfigException:
            pass
    try:
        return config.new_client_from_config(config_file=kubeconfig, persist_config=False)
    except (config.ConfigException, OSError) as exc:
        raise error(f"no usable kubeconfig ({kubeconfig or '~/.kube/config'}) and not inside a cluster: {exc}") from None

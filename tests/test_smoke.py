import requests


def test_root_answers_200(server):
    response = requests.get(server.url + "/")
    assert response.status_code == 200
    assert response.content == b""

"""The authors' input pipeline, the baseline of both benchmarks.

torchvision's DataLoader over a per-image PIL dataset (what torchvision's CIFAR10 does per
item) with RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor and Normalize,
shuffle=True and 0 worker processes.
"""
from datasets.loader import MEAN, STD


def authors_train_loader(images, labels, batch_size: int):
    from PIL import Image
    from torch.utils.data import DataLoader, Dataset
    from torchvision import transforms

    transform = transforms.Compose([
        transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
        transforms.ToTensor(), transforms.Normalize(MEAN, STD)])

    class ArrayDataset(Dataset):
        def __len__(self):
            return len(labels)

        def __getitem__(self, i):
            return transform(Image.fromarray(images[i])), int(labels[i])

    return DataLoader(ArrayDataset(), batch_size=batch_size, shuffle=True, num_workers=0)

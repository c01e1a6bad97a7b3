import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0003_team_admins_and_invitations'),
        ('serving', '0004_version_endpoint_url'),
    ]

    operations = [
        migrations.AddField(
            model_name='modelservice',
            name='sharing',
            field=models.CharField(choices=[('private', 'Private (only the owner)'), ('team', "The owner's team"), ('everyone', 'Everyone on the platform')], default='private', help_text='who may call it besides its owner: nobody, the members of the owner\'s team, or everyone', max_length=16),
        ),
        migrations.AddField(
            model_name='modelservice',
            name='shared_team',
            field=models.ForeignKey(blank=True, help_text="with sharing 'team': the team whose members may call it (the owner's team when it was shared)", null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='shared_services', to='accounts.team'),
        ),
    ]
